//! Child processes a test drives: bots written with the real libraries, the browser tests. Their
//! output is kept and printed when the test fails (or always, with `PLAZA_SHOW_CLIENT_OUTPUT`);
//! dropping one kills it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub struct Proc {
    name: String,
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::UnboundedReceiver<String>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `command` with piped stdio; `hint` says what to do when it cannot start.
    pub fn spawn(name: &str, mut command: Command, hint: &str) -> Proc {
        let mut child = command
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e} ({hint})"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, stdout) = mpsc::unbounded_channel();
        read_lines(child.stdout.take().expect("stdout"), "out", output.clone(), Some(tx));
        read_lines(child.stderr.take().expect("stderr"), "err", output.clone(), None);
        let stdin = child.stdin.take();
        Proc { name: name.to_string(), child, stdin, stdout, output }
    }

    /// The next line it prints, or None once it has closed its output.
    pub async fn line(&mut self) -> Option<String> {
        self.stdout.recv().await
    }

    /// Waits for its READY line.
    pub async fn ready(&mut self, within: Duration) {
        let name = self.name.clone();
        let wait = async {
            while let Some(line) = self.stdout.recv().await {
                if line.trim() == "READY" {
                    return;
                }
            }
            panic!("{name} exited before it was READY");
        };
        tokio::time::timeout(within, wait).await.unwrap_or_else(|_| panic!("{name} was not READY within {within:?}"));
    }

    /// Writes a line to its standard input.
    pub async fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.expect("write to the child");
        stdin.flush().await.expect("flush");
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.join("\n")).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() || std::env::var_os("PLAZA_SHOW_CLIENT_OUTPUT").is_some() {
            eprintln!("---- output of {} ----\n{}\n---- end of its output ----", self.name, self.output());
        }
    }
}

fn read_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    tag: &'static str,
    output: Arc<Mutex<Vec<String>>>,
    lines: Option<mpsc::UnboundedSender<String>>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(mut o) = output.lock() {
                o.push(format!("[{tag}] {line}"));
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

/// The repository's root, where `tests/clients/` lives.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().expect("addr").port()
}
