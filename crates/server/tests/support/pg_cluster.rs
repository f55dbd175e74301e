//! A throwaway PostgreSQL cluster of a test's own, so that the test may kill PostgreSQL
//! itself (the shared server of the other tests is never touched).
//!
//! `initdb` into a temporary folder, then `postgres` on a free 127.0.0.1 port, both as the
//! `postgres` OS user (they refuse to run as root, and the tests run as root), with
//! `synchronous_commit=on` and `fsync=on` given explicitly: what a 200 is promised to survive
//! depends on them. The postmaster is a direct child of the test, so its PID is known, it
//! can be reaped, and no wrapper (`runuser`, `pg_ctl`) stands between the test and the
//! signal. Dropped: fast shutdown by PID (SIGKILL if that does not end it), folder removed.

#![allow(dead_code)] // each test file that includes it uses a part of it

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;

/// Where Debian's packages and `.ci/run` put the server binaries.
const BINARY_FOLDERS: &[&str] = &["/usr/local/bin", "/usr/lib/postgresql"];

/// Each cluster's folder is `{FOLDER_PREFIX}{name}-{test process ID}` in the temp folder.
const FOLDER_PREFIX: &str = "evo-pgcluster-";

#[derive(Debug)]
pub struct PgCluster {
    pub port: u16,
    folder: PathBuf,
    bin: PathBuf,
    uid: u32,
    gid: u32,
    postmaster: Option<Child>,
    /// Settings beyond the fixed ones, given to every launch (`-c name=value`).
    settings: Vec<String>,
}

impl PgCluster {
    /// `initdb` and start; waits until it accepts connections. Panics, saying what to
    /// install, when the server binaries or the `postgres` user are missing.
    pub fn start(name: &str) -> Self {
        let bin = server_binaries();
        let (uid, gid) = postgres_user();
        reclaim_orphans();
        let folder = std::env::temp_dir().join(format!("{FOLDER_PREFIX}{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        std::os::unix::fs::chown(&folder, Some(uid), Some(gid)).unwrap();
        let mut cluster =
            Self { port: free_port(), folder, bin, uid, gid, postmaster: None, settings: Vec::new() };
        // `--no-sync`: initdb's own files need not reach the disk, only a process dies here,
        // never the machine; the cluster itself runs with fsync on.
        let output = cluster
            .as_postgres("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cluster.bin.join("initdb").display()));
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.launch();
        cluster
    }

    /// A hot standby of `primary`, streaming from it: `pg_basebackup -R` (which writes
    /// `primary_conninfo` and `standby.signal`) into a folder of its own, then started on a
    /// free port; waits until it accepts connections.
    pub fn standby_of(primary: &PgCluster, name: &str) -> Self {
        let folder = std::env::temp_dir().join(format!("{FOLDER_PREFIX}{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        std::os::unix::fs::chown(&folder, Some(primary.uid), Some(primary.gid)).unwrap();
        let mut standby = Self {
            port: free_port(),
            folder,
            bin: primary.bin.clone(),
            uid: primary.uid,
            gid: primary.gid,
            postmaster: None,
            settings: vec![format!("cluster_name={name}")],
        };
        let output = standby
            .as_postgres("pg_basebackup")
            .arg("-D")
            .arg(standby.data())
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &primary.port.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_basebackup: {e}"));
        assert!(
            output.status.success(),
            "pg_basebackup failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        standby.launch();
        standby
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql and returns what it printed (unaligned, tuples only), trimmed.
    pub fn sql(&self, sql: &str) -> String {
        let output = Command::new(self.program("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-p", &self.port.to_string(), "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(output.status.success(), "psql {sql:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn data(&self) -> PathBuf {
        self.folder.join("data")
    }

    fn log(&self) -> PathBuf {
        self.folder.join("postgres.log")
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `program` beside the server binaries, or else where Debian puts it (`/usr/local/bin`
    /// may hold only the server's own links).
    fn program(&self, program: &str) -> PathBuf {
        let beside = self.bin.join(program);
        if beside.is_file() {
            return beside;
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(BINARY_FOLDERS[1])
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin").join(program)))
            })
            .filter(|(_, path)| path.is_file())
            .collect();
        versions.sort();
        versions.pop().map_or_else(|| PathBuf::from(program), |(_, path)| path)
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new(self.program(program));
        command
            .uid(self.uid)
            .gid(self.gid)
            .current_dir(&self.folder)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LC_ALL", "C");
        command
    }

    /// Starts `postgres` on the data folder (after a crash: crash recovery first) and waits
    /// until `postmaster.pid` says it is ready. Returns how long that took.
    pub fn launch(&mut self) -> Duration {
        assert!(self.postmaster.is_none(), "the cluster is already running");
        let started = Instant::now();
        let log = File::options().create(true).append(true).open(self.log()).unwrap();
        let postmaster = self
            .as_postgres("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
            .args(["-c", "synchronous_commit=on", "-c", "fsync=on"])
            .args(["-c", "max_connections=40", "-c", "shared_buffers=16MB"])
            .args(self.settings.iter().flat_map(|setting| ["-c", setting.as_str()]))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.join("postgres").display()));
        let pid = postmaster.id();
        self.postmaster = Some(postmaster);
        let deadline = started + Duration::from_secs(60);
        loop {
            // Line 1 is the postmaster's PID (a stale file from before a crash names the
            // dead one), line 8 its status.
            let lock = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap_or_default();
            let lines: Vec<&str> = lock.lines().collect();
            if lines.first() == Some(&pid.to_string().as_str())
                && lines.get(7).map(|s| s.trim()) == Some("ready")
            {
                return started.elapsed();
            }
            if let Some(status) = self.postmaster.as_mut().unwrap().try_wait().unwrap() {
                self.postmaster = None;
                panic!("postgres exited before it was ready ({status}):\n{}", self.log_tail());
            }
            assert!(Instant::now() < deadline, "postgres not ready within 60 s:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The postmaster's PID, from line 1 of `postmaster.pid`.
    pub fn postmaster_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.data().join("postmaster.pid")).expect("postmaster.pid");
        let pid: u32 = lock.lines().next().and_then(|l| l.trim().parse().ok()).expect("a PID on line 1");
        assert_eq!(Some(pid), self.postmaster.as_ref().map(Child::id), "postmaster.pid names our postmaster");
        pid
    }

    /// SIGKILL of the postmaster and every process it started (backends, checkpointer, WAL
    /// writer...), all at once: a crash, with no chance to flush or answer anything.
    /// Returns once all are gone. Returns how many processes were killed.
    pub fn crash(&mut self) -> usize {
        let pid = self.postmaster_pid();
        // Each child calls setsid(), so a process group does not reach them: they are found
        // by parent PID. The postmaster is stopped first so that it forks no backend between
        // the listing and the kill (one left alive would go on committing and keep the
        // shared memory that the restart needs).
        signal("STOP", &[pid]);
        let children = children_of(pid);
        let mut all = vec![pid];
        all.extend(&children);
        signal("KILL", &all);
        let status = self.postmaster.take().unwrap().wait().unwrap();
        assert!(!status.success(), "the postmaster was killed, not stopped: {status}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while children.iter().any(|&child| alive(child)) {
            assert!(Instant::now() < deadline, "PostgreSQL processes outlived SIGKILL: {children:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        all.len()
    }

    /// Fast shutdown by PID (SIGINT), SIGKILL of it and its children after 20 s. Never panics.
    fn stop(&mut self) {
        let Some(mut postmaster) = self.postmaster.take() else { return };
        let pid = postmaster.id();
        signal("INT", &[pid]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = postmaster.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut all = vec![pid];
        all.extend(children_of(pid));
        signal("KILL", &all);
        let _ = postmaster.wait();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Clusters left by test processes that were killed before their Drop ran (a CI timeout, ^C):
/// the postmaster, when still running on that folder, gets a fast shutdown, and the folder
/// goes. Folders of live test processes are left alone.
fn reclaim_orphans() {
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name.strip_prefix(FOLDER_PREFIX).and_then(|rest| rest.rsplit('-').next()) else {
            continue;
        };
        let Ok(owner) = owner.parse::<u32>() else { continue };
        if owner == std::process::id() || alive(owner) {
            continue;
        }
        let data = entry.path().join("data");
        let lock = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if let Some(pid) = lock.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) {
            // Only a postmaster of that very folder: the PID may have been reused since.
            let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if alive(pid) && String::from_utf8_lossy(&command).contains(&*data.to_string_lossy()) {
                signal("INT", &[pid]);
                let deadline = Instant::now() + Duration::from_secs(10);
                while alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if alive(pid) {
                    let mut all = vec![pid];
                    all.extend(children_of(pid));
                    signal("KILL", &all);
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// The first folder holding both `initdb` and `postgres`: /usr/local/bin, then
/// /usr/lib/postgresql/<newest version>/bin.
fn server_binaries() -> PathBuf {
    let mut candidates = vec![PathBuf::from(BINARY_FOLDERS[0])];
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(BINARY_FOLDERS[1])
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|(_, bin)| bin));
    candidates
        .into_iter()
        .find(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server binaries (initdb, postgres) not found in /usr/local/bin or \
                 /usr/lib/postgresql/*/bin: install them (`apt-get install -y postgresql`, as \
                 .ci/run does). This test needs a PostgreSQL of its own to kill."
            )
        })
}

/// The `postgres` OS user's uid and gid.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, "postgres"]).output().expect("run id");
        assert!(
            output.status.success(),
            "no `postgres` OS user (installing PostgreSQL creates it): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// `kill -s SIGNAL PID...`. A PID already gone is not an error worth stopping for.
fn signal(name: &str, pids: &[u32]) {
    // Never 0, 1 or ourselves: `kill` would reach far more than the cluster.
    assert!(pids.iter().all(|&pid| pid > 1 && pid != std::process::id()), "{pids:?}");
    let _ = Command::new("kill").args(["-s", name, "--"]).args(pids.iter().map(u32::to_string)).status();
}

/// (state, parent PID) of a process, from /proc/PID/stat (the name in parentheses may hold
/// spaces: the fields after the last `)` are read).
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Running, or stopped, not dead nor a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}
