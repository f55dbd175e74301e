//! The service's removal without HTTP: design `store` of `bench/run.sh`.
//!
//! It drives the PostgreSQL store the way the service does, minus the HTTP request, the
//! token check and the JSON answer: one thread per worker, each with a single-threaded Tokio
//! runtime (as an actix worker is) and a request pool of its own (`per_worker`), and on each
//! `C / workers` tasks that call `SessionRepository::update` with a removal, one after the
//! other. So what it spends per removal (its own CPU, read by `bench/cpu.py`) is the floor of
//! the service's: the domain rule, the event's rendering (the wire renderer), diesel,
//! diesel-async and tokio-postgres, and the pool. It prints one `WRK_JSON` line in the shape
//! of `bench/wrk/summary.lua`, so `bench/report.py` reads it like a wrk run.
//!
//! ```text
//! DATABASE_URL=postgres://... store_loop C FIRST COUNT KFIRST KLAST SECONDS [WORKERS]
//! ```
//!
//! Sessions `FIRST .. FIRST+COUNT-1` are split into one slice per worker, and the tasks of a
//! worker share its counter, exactly as `bench/wrk/delete.lua` splits them among wrk threads:
//! the n-th removal of a slice removes agent `KFIRST + n / width` from its session
//! `n % width`. Past `KLAST` the slice is exhausted and its tasks stop (counted, as wrk's 404s
//! would be). `EVO_DB_POOL_SIZE` (default 4 per worker) as for the service.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evo_domain::{AccountId, Actor, MemberIdentity, SessionCommand, SessionId};
use evo_ports::SessionRepository;
use evo_postgres::{PgConfig, PgSessionRepository};
use evo_store_sql::Outbox;

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    refused: u64,
    exhausted: u64,
}

impl Tally {
    /// Adds what another task (or worker) measured.
    fn absorb(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.refused += other.refused;
        self.exhausted += other.exhausted;
    }
}

/// `bench.sid(i)` of bench/sql/schema.sql (and `sid` of bench/wrk/delete.lua).
fn sid(i: u64) -> String {
    (1_000_000_000_000_000 + (i * 2_654_435_761 % 4_294_967_296) * 1_000_000 + i).to_string()
}

fn arg(args: &[String], n: usize, name: &str) -> u64 {
    args.get(n)
        .and_then(|raw| raw.parse().ok())
        .unwrap_or_else(|| panic!("argument {n} ({name}) must be a number; see the file's header"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (c, first, count) = (arg(&args, 1, "C"), arg(&args, 2, "FIRST"), arg(&args, 3, "COUNT"));
    let (kfirst, klast, seconds) =
        (arg(&args, 4, "KFIRST"), arg(&args, 5, "KLAST"), arg(&args, 6, "SECONDS"));
    let workers = if args.len() > 7 { arg(&args, 7, "WORKERS") } else { 2 }.clamp(1, c.max(1));
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must name the bench database");
    let mut config = PgConfig::new(url);
    config.pool_size = std::env::var("EVO_DB_POOL_SIZE")
        .ok()
        .and_then(|size| size.parse().ok())
        .unwrap_or(4 * workers as usize);

    // Opened on a runtime of its own, as the service's main runtime opens it; the request
    // pools are per worker and open their connections on the worker that uses them.
    let main_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let stores = main_runtime.block_on(async {
        let outbox = Outbox::new(Arc::new(evo_http::WireEventRenderer), false);
        let store = PgSessionRepository::connect(config).await.expect("cannot connect").with_outbox(outbox);
        store.per_worker(workers as usize).expect("cannot build the request pools")
    });
    let actor = Arc::new(Actor {
        user_id: "bench@example.com".into(),
        name: "Bench User".into(),
        roles: vec!["User".into()],
        account_ids: (0..10).map(|a| AccountId::parse(&format!("acct-{a}")).unwrap()).collect(),
    });

    let width = count / workers;
    let deadline = Duration::from_secs(seconds);
    let started = Instant::now();
    let threads: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            let actor = actor.clone();
            let tasks = c / workers + u64::from((w as u64) < c % workers);
            let lo = first + w as u64 * width;
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let next = Rc::new(Cell::new(0u64));
                    let running: Vec<_> = (0..tasks)
                        .map(|_| {
                            let (store, actor, next) = (store.clone(), actor.clone(), next.clone());
                            tokio::task::spawn_local(async move {
                                let mut tally = Tally::default();
                                while started.elapsed() < deadline {
                                    let n = next.get();
                                    next.set(n + 1);
                                    let k = kfirst + n / width;
                                    if k > klast {
                                        tally.exhausted += 1;
                                        break;
                                    }
                                    let id = SessionId::parse(&sid(lo + n % width)).unwrap();
                                    let member =
                                        MemberIdentity::parse(&format!("agent{k}@example.com")).unwrap();
                                    let command = SessionCommand::remove(member);
                                    let asked = Instant::now();
                                    let now = chrono::Utc::now();
                                    match store.update(&id, &actor, &command, None, None, now).await {
                                        Ok(_) => tally.latencies_us.push(asked.elapsed().as_micros() as u32),
                                        Err(error) => {
                                            tally.refused += 1;
                                            if tally.refused <= 3 {
                                                eprintln!("refused: {error}");
                                            }
                                        }
                                    }
                                }
                                tally
                            })
                        })
                        .collect();
                    let mut tally = Tally::default();
                    for task in running {
                        let done = task.await.expect("a removal task panicked");
                        tally.absorb(done);
                    }
                    tally
                })
            })
        })
        .collect();
    let mut tally = Tally::default();
    for thread in threads {
        let done = thread.join().expect("a worker panicked");
        tally.absorb(done);
    }
    let elapsed = started.elapsed();
    report(&mut tally, elapsed);
}

#[allow(clippy::print_stdout)] // the figures on standard output are this program's answer
fn report(tally: &mut Tally, elapsed: Duration) {
    let latencies = &mut tally.latencies_us;
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    let percentile = |q: f64| at(q).copied().unwrap_or(0);
    let ok = latencies.len() as u64;
    let mean = if ok == 0 { 0.0 } else { latencies.iter().map(|&l| f64::from(l)).sum::<f64>() / ok as f64 };
    let seconds = elapsed.as_secs_f64();
    println!("{ok} removals in {seconds:.2} s = {:.0}/s; {} refused", ok as f64 / seconds, tally.refused);
    println!(
        "WRK_JSON {{\"duration_us\":{},\"requests\":{},\"issued\":{},\"ok\":{ok},\"non2xx\":{},\"exhausted\":{},\
         \"statuses\":{{}},\"socket_errors\":0,\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{},\"mean_us\":{mean:.1}}}",
        elapsed.as_micros(),
        ok + tally.refused,
        ok + tally.refused + tally.exhausted,
        tally.refused,
        tally.exhausted,
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        latencies.last().copied().unwrap_or(0),
    );
}
