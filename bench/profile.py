#!/usr/bin/env python3
"""Where the service's CPU goes per removal, from a perf profile of evo-sessions.

  perf report -i perf.data --children --sort sym -g none --stdio | profile.py [US_PER_REMOVAL]

Reads perf's "children" report (inclusive %: a frame and everything it calls) and prints
the share of the service's CPU spent in each phase of a DeleteChatMember request, and,
given the service's CPU per removal in microseconds (bench/cpu.py), the same in µs.
Phases nest (the store's update includes row decoding); the table says which are parts of
which. Self-time rows (malloc, the scheduler) are the frame's own samples.
"""

import re
import sys

# (label, regex over the symbol, inclusive?) in display order; indentation = nesting.
PHASES = [
    ("HTTP/1 connection task (actix dispatcher: parse, middleware, handler, write)",
     r"<actix_http::h1::dispatcher::Dispatcher<.*> as core::future::future::Future>::poll$", True),
    ("  route matching with regex_lite (routing + match_pattern() in 2 middlewares)",
     r"^regex_lite::string::Regex::captures_at$", True),
    ("  JWT verify (HS256, claims JSON)", r"^evo_jwt::verifier::JwtVerifier::verify_at$", True),
    ("  use case delete_chat_member (validation + store)",
     r"SessionUseCases>::delete_chat_member::\{\{closure\}\}$", True),
    ("    store update: pool checkout, 2 pipelined round trips, decode, domain rule",
     r"<evo_postgres::repository::PgSessionRepository as evo_ports::driven::SessionRepository>::update::\{\{closure\}\}$", True),
    ("      pool checkout + return (deadpool)", r"^deadpool::managed::Pool<.*>::(get|timeout_get)|<deadpool::managed::object::Object<M> as core::ops::drop::Drop>::drop$", True),
    ("      row decoding (diesel FromStaticSqlRow) + restore_session",
     r"FromStaticSqlRow<.*>>::build_from_row$|^evo_store_sql::restore_session$", True),
    ("      domain rule Session::apply", r"^evo_domain::session::Session::apply$", True),
    ("  response JSON: SessionInfo::from + serialize",
     r"^<evo_http::dto::SessionInfo as core::convert::From<&evo_domain::session::Session>>::from$|impl serde_core::ser::Serialize for evo_http::dto::SessionInfo>::serialize$", True),
    ("  socket writes to the client (send)", r"^<&mio::net::tcp::stream::TcpStream as std::io::Write>::write$", True),
    ("PostgreSQL connection tasks (tokio-postgres: encode, socket I/O, decode messages)",
     r"^diesel_async::pg::drive_connection::\{\{closure\}\}$", True),
    ("runtime idle/park (epoll_wait and the wake-ups around it)",
     r"^tokio::runtime::time::Driver::park_internal$", True),
    ("kernel: context switches (finish_task_switch, self)", r"^finish_task_switch", False),
    ("kernel: all syscalls (send, recv, epoll, futex)", r"^entry_SYSCALL_64_after_hwframe$", True),
    ("malloc / free / memmove (self)",
     r"^(malloc|_int_malloc|_int_free|cfree@GLIBC.*|malloc_consolidate|_int_realloc|unlink_chunk.*|__memmove_.*|realloc)$", False),
]

LINE = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(.*?)\s*$")


def main():
    us = float(sys.argv[1]) if len(sys.argv) > 1 else None
    rows = []
    for line in sys.stdin:
        m = LINE.match(line)
        if m:
            rows.append((float(m.group(1)), float(m.group(2)), m.group(3)))
    print("| phase | share of service CPU | µs per removal |")
    print("|---|---:|---:|")
    for label, pattern, inclusive in PHASES:
        regex = re.compile(pattern)
        matched = [(c, s) for c, s, sym in rows if regex.search(sym)]
        if inclusive:
            # The same frame can appear under several monomorphizations: add them up, but
            # never past the largest single inclusive value times the count (nesting can
            # double count; this is a profile, not an audit).
            share = sum(c for c, _ in matched)
        else:
            share = sum(s for _, s in matched)
        cost = f"{share / 100 * us:.0f}" if us else ""
        name = label.replace("  ", "&nbsp;&nbsp;")
        print(f"| {name} | {share:.1f} % | {cost} |")


if __name__ == "__main__":
    main()
