//! `lport record`: the recorder in the foreground, until Ctrl-C, SIGTERM or `--duration`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use lport::history::store::{Limits, default_path};
use lport::history::{Mode, Recorder};

use crate::cli::RecordArgs;

/// `64M`, `512K`, `1G`, `1000000`: a size in bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64> {
    let trimmed = text.trim();
    let (num, mult) = match trimmed.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(anyhow!("invalid size {text:?}: use bytes or K, M, G (64M)")),
            };
            (&trimmed[..i], m)
        }
        _ => (trimmed, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("invalid size {text:?}: use bytes or K, M, G (64M)"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| anyhow!("invalid size {text:?}: too large"))?;
    if bytes < 64 << 10 {
        return Err(anyhow!("invalid size {text:?}: at least 64K"));
    }
    Ok(bytes)
}

/// A recorder on a thread of its own beside `ui`, `exporter` or `watch` (`--record`), with
/// the defaults of `lport record`; [`Background::finish`] writes what it holds and stops it.
pub(crate) struct Background {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Background {
    pub(crate) fn start() -> Result<Background> {
        let path = default_path();
        let (mut rec, notes) = Recorder::start(&path, Limits::default(), Mode::Auto)
            .map_err(|e| anyhow!("--record: {}: {e}", path.display()))?;
        for n in &notes {
            eprintln!("lport: {n}");
        }
        eprintln!(
            "recording to {} ({})",
            path.display(),
            if rec.is_tracing() {
                "kernel events"
            } else {
                "polling listeners"
            }
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut failing = false;
            while !flag.load(Ordering::Relaxed) {
                match rec.step(Duration::from_millis(200)) {
                    // Only a write that happened says writing works again.
                    Ok(done) => failing &= done.written == 0,
                    Err(e) => {
                        if !failing {
                            eprintln!("lport: recording: {e} (retrying)");
                        }
                        failing = true;
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
            if let Err(e) = rec.flush() {
                eprintln!("lport: recording: the last events could not be written: {e}");
            }
        });
        Ok(Background { stop, thread })
    }

    pub(crate) fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Runs `command` with a recorder beside it when `record` is set.
pub(crate) fn beside(record: bool, command: impl FnOnce() -> Result<ExitCode>) -> Result<ExitCode> {
    let bg = if record {
        Some(Background::start()?)
    } else {
        None
    };
    let out = command();
    if let Some(bg) = bg {
        bg.finish();
    }
    out
}

pub(crate) fn run(args: &RecordArgs) -> Result<ExitCode> {
    let max_age =
        lport::wait::parse_duration(&args.max_age).map_err(|e| anyhow!("--max-age: {e}"))?;
    if max_age < Duration::from_secs(60) {
        return Err(anyhow!("--max-age must be at least 1m"));
    }
    let max_bytes = parse_size(&args.max_size).map_err(|e| anyhow!("--max-size: {e}"))?;
    let interval =
        lport::wait::parse_duration(&args.interval).map_err(|e| anyhow!("--interval: {e}"))?;
    if interval < Duration::from_millis(100) {
        return Err(anyhow!("--interval must be at least 100ms"));
    }
    let duration = args
        .duration
        .as_deref()
        .map(|d| lport::wait::parse_duration(d).map_err(|e| anyhow!("--duration: {e}")))
        .transpose()?;
    let path: PathBuf = args.db.clone().unwrap_or_else(default_path);
    let mode = if args.poll { Mode::Poll } else { Mode::Auto };
    let (mut rec, notes) = match Recorder::start(&path, Limits { max_age, max_bytes }, mode) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lport record: {}: {e}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    rec.set_poll_interval(interval);
    for n in &notes {
        eprintln!("lport record: {n}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    if !args.quiet {
        eprintln!(
            "recording to {} ({}; Ctrl-C to stop)",
            path.display(),
            if rec.is_tracing() {
                "kernel events"
            } else {
                "polling listeners"
            }
        );
    }
    let started = Instant::now();
    let mut failing = false;
    let mut lost = 0;
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        match rec.step(Duration::from_millis(200)) {
            Ok(done) => {
                // Between flushes a step writes nothing: only a write says it works again.
                if failing && done.written > 0 {
                    if !args.quiet {
                        eprintln!("lport record: writing works again");
                    }
                    failing = false;
                }
                if done.lost > 0 {
                    lost += done.lost;
                    eprintln!(
                        "lport record: the kernel dropped {} event(s) ({lost} in all)",
                        done.lost
                    );
                }
            }
            Err(e) => {
                // A full disk or a locked file: say so once, keep reading events.
                if !failing {
                    eprintln!(
                        "lport record: {e} (retrying; events meanwhile are kept in memory, a bounded amount)"
                    );
                }
                failing = true;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    if let Err(e) = rec.flush() {
        eprintln!("lport record: the last events could not be written: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M").expect("64M"), 64 << 20);
        assert_eq!(parse_size("512k").expect("512k"), 512 << 10);
        assert_eq!(parse_size("1048576").expect("bytes"), 1 << 20);
        assert!(parse_size("12").is_err());
        assert!(parse_size("3X").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
