//! A Server-Sent Events client for the tests: a raw HTTP/1.1 GET whose chunked answer is
//! read on a thread of its own and split into events (`id`, `event`, `data`) and comments.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// One block of the stream: an event, or a comment line (`: keep-alive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Event { id: u64, event: String, data: serde_json::Value },
    Comment(String),
}

/// An open stream.
pub struct Stream {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    frames: Receiver<Frame>,
    socket: TcpStream,
}

impl Stream {
    /// `GET path` on `port` with a bearer token and, when given, `Last-Event-ID`.
    pub fn open(port: u16, path: &str, token: &str, last_event_id: Option<u64>) -> Self {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let resume = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n{resume}\r\n"
        );
        socket.write_all(request.as_bytes()).expect("send");
        let mut reader = BufReader::new(socket.try_clone().expect("clone"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut content_type = None;
        let mut retry_after = None;
        let mut chunked = false;
        let mut length = None;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.trim().to_owned()),
                "retry-after" => retry_after = Some(value.trim().to_owned()),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                "content-length" => length = value.trim().parse::<usize>().ok(),
                _ => {}
            }
        }
        let (frames, receiver) = channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            if !chunked {
                // An error answer: read its body as one comment, for the test's message.
                let mut body = vec![0; length.unwrap_or(0)];
                let _ = reader.read_exact(&mut body);
                let _ = frames.send(Frame::Comment(String::from_utf8_lossy(&body).into_owned()));
                return;
            }
            loop {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let Ok(size) = usize::from_str_radix(size.trim(), 16) else { return };
                if size == 0 {
                    return;
                }
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                text.push_str(&String::from_utf8_lossy(&chunk[..size]));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if let Some(frame) = parse(&block)
                        && frames.send(frame).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Self { status, content_type, retry_after, frames: receiver, socket }
    }

    /// The next frame within `within`, or `None`.
    pub fn next(&self, within: Duration) -> Option<Frame> {
        self.frames.recv_timeout(within).ok()
    }

    /// The next `count` events (comments skipped), each within `within` of the previous.
    pub fn events(&self, count: usize, within: Duration) -> Vec<(u64, String, serde_json::Value)> {
        let mut events = Vec::new();
        let deadline = Instant::now() + within * count as u32;
        while events.len() < count && Instant::now() < deadline {
            match self.next(within) {
                Some(Frame::Event { id, event, data }) => events.push((id, event, data)),
                Some(Frame::Comment(_)) => {}
                None => break,
            }
        }
        events
    }

    /// Whether the server ends the stream within `within` (frames before the end are skipped).
    pub fn ends_within(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

fn parse(block: &str) -> Option<Frame> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Frame::Comment(comment.trim().to_owned()));
        }
        match line.split_once(": ") {
            Some(("id", value)) => id = value.parse().ok(),
            Some(("event", value)) => event = Some(value.to_owned()),
            Some(("data", value)) => data = serde_json::from_str(value).ok(),
            _ => {}
        }
    }
    Some(Frame::Event { id: id?, event: event?, data: data? })
}
