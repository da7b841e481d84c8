//! [`RedisServer`]: a real `redis-server` for the shared session store's tests.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::*;

/// A reply of Redis, as [`RedisServer::command`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `nil`.
    Nil,
    /// An integer.
    Int(i64),
    /// A simple or bulk string.
    Text(String),
    /// An error.
    Error(String),
    /// An array.
    Array(Vec<Reply>),
}

/// A real `redis-server` on a free 127.0.0.1 port, without persistence
/// (`--save '' --appendonly no`): a restart starts empty, as an unpersisted
/// production Redis would.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    process: Process,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub async fn start() -> io::Result<RedisServer> {
        let binary = find("redis-server").ok_or_else(|| not_installed("redis-server"))?;
        let mut server = RedisServer {
            binary,
            port: free_port()?,
            process: Process::new("redis")?,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Kills it (`SIGKILL`) and waits for it to end.
    pub async fn stop(&mut self) {
        self.process.kill().await;
    }

    /// Starts it again on the same port, empty.
    pub async fn start_again(&mut self) -> io::Result<()> {
        self.stop().await;
        let port = self.port.to_string();
        let mut child = Command::new(&self.binary)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning", "--dir"])
            .arg(self.process.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let started = async {
            for _ in 0..START_POLLS {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "redis-server exited at start: {status}"
                    )));
                }
                if matches!(command_at(self.port, &["PING"]).await, Ok(Reply::Text(pong)) if pong == "PONG") {
                    return Ok(());
                }
                tokio::time::sleep(START_POLL).await;
            }
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "redis-server did not start",
            ))
        };
        started.await?;
        self.process.started(child);
        Ok(())
    }

    /// Sends one command and reads its reply (on a new connection).
    pub async fn command(&self, args: &[&str]) -> io::Result<Reply> {
        command_at(self.port, args).await
    }

    /// `DBSIZE`: how many keys it holds.
    pub async fn dbsize(&self) -> io::Result<u64> {
        match self.command(&["DBSIZE"]).await? {
            Reply::Int(n) => u64::try_from(n).map_err(io::Error::other),
            other => Err(io::Error::other(format!("DBSIZE answered {other:?}"))),
        }
    }

    /// The keys matching `pattern` (`KEYS`: test data only).
    pub async fn keys(&self, pattern: &str) -> io::Result<Vec<String>> {
        match self.command(&["KEYS", pattern]).await? {
            Reply::Array(keys) => Ok(keys
                .into_iter()
                .filter_map(|key| match key {
                    Reply::Text(key) => Some(key),
                    _ => None,
                })
                .collect()),
            other => Err(io::Error::other(format!("KEYS answered {other:?}"))),
        }
    }
}

/// One command to the Redis on `port`, in RESP.
async fn command_at(port: u16, args: &[&str]) -> io::Result<Reply> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut stream = BufReader::new(stream);
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.get_mut().write_all(&request).await?;
    read_reply(&mut stream).await
}

async fn read_line(stream: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn read_reply(stream: &mut BufReader<TcpStream>) -> io::Result<Reply> {
    let bad = |line: &str| io::Error::other(format!("unexpected reply {line:?}"));
    let mut arrays: Vec<(usize, Vec<Reply>)> = Vec::new();
    loop {
        let line = read_line(stream).await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || rest.parse::<i64>().map_err(|_| bad(&line));
        let reply = match kind {
            "+" => Reply::Text(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(number()?),
            "$" if number()? < 0 => Reply::Nil,
            "$" => {
                let mut data = read_line(stream).await?;
                let wanted = usize::try_from(number()?).map_err(|_| bad(&line))?;
                // A bulk string may hold CRLF; read on until it has its length.
                while data.len() < wanted {
                    data.push_str("\r\n");
                    data.push_str(&read_line(stream).await?);
                }
                Reply::Text(data)
            }
            "*" if number()? < 0 => Reply::Nil,
            "*" => {
                let len = usize::try_from(number()?).map_err(|_| bad(&line))?;
                if len > 0 {
                    arrays.push((len, Vec::with_capacity(len)));
                    continue;
                }
                Reply::Array(Vec::new())
            }
            _ => return Err(bad(&line)),
        };
        // Fill the open arrays from the innermost out.
        let mut reply = reply;
        loop {
            let Some((len, items)) = arrays.last_mut() else {
                return Ok(reply);
            };
            items.push(reply);
            if items.len() < *len {
                break;
            }
            let Some((_, items)) = arrays.pop() else {
                return Err(bad(&line));
            };
            reply = Reply::Array(items);
        }
    }
}
