//! Worker threads that outlive their own panics, and the daemon's record of
//! the faults it has recovered from (what `status` shows under "faults").
//!
//! A panic in a worker (perception, the avatar rasteriser, a room encoder)
//! is a bug, but it must not stop the picture: the worker's body is run
//! again after a pause that doubles with each panic in a row (up to
//! `MAX_PAUSE`), and the fault is logged and counted.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The first pause before a restart, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// A body that ran this long before panicking starts again from the first pause.
const CALM: Duration = Duration::from_secs(10);

/// One kind of fault: how often it happened and the latest detail.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    count: u64,
    last: String,
}

static FAULTS: Mutex<BTreeMap<String, Record>> = Mutex::new(BTreeMap::new());

/// Notes a fault the daemon recovered from: `what` names the part
/// ("perception", "gpu"), `detail` what happened and what was done.
pub fn record(what: &str, detail: &str) {
    let mut faults = FAULTS.lock().unwrap_or_else(|p| p.into_inner());
    let r = faults.entry(what.to_string()).or_insert(Record {
        count: 0,
        last: String::new(),
    });
    r.count += 1;
    r.last = detail.to_string();
}

/// Every fault recorded since the start, one line per part:
/// `perception: 2 times, last: panicked (index out of bounds); restarted`.
pub fn summary() -> Vec<String> {
    let faults = FAULTS.lock().unwrap_or_else(|p| p.into_inner());
    faults
        .iter()
        .map(|(what, r)| {
            let times = if r.count == 1 {
                "once".to_string()
            } else {
                format!("{} times", r.count)
            };
            format!("{what}: {times}, last: {}", r.last)
        })
        .collect()
}

/// The message a panic was raised with.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `body` on a thread called `name` until it returns; when it panics,
/// the fault is logged and recorded and `body` runs again after a pause.
/// `body` keeps whatever must survive a restart (its channels) in its
/// captures and makes everything else afresh on each call.
pub fn spawn<F>(name: &str, mut body: F) -> std::io::Result<JoinHandle<()>>
where
    F: FnMut() + Send + 'static,
{
    let owner = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut pause = FIRST_PAUSE;
            loop {
                let started = Instant::now();
                match catch_unwind(AssertUnwindSafe(&mut body)) {
                    Ok(()) => return,
                    Err(payload) => {
                        let msg = panic_message(payload.as_ref());
                        tracing::error!("the {owner} thread panicked ({msg}); it is restarted");
                        record(&owner, &format!("panicked ({msg}); restarted"));
                        if started.elapsed() > CALM {
                            pause = FIRST_PAUSE;
                        }
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_panicking_body_is_run_again_until_it_returns() {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let h = spawn("supervise-test", move || {
            if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("test fault");
            }
        })
        .expect("spawn");
        h.join().expect("the thread itself never panics");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let line = summary()
            .into_iter()
            .find(|l| l.starts_with("supervise-test:"))
            .expect("recorded");
        assert_eq!(
            line,
            "supervise-test: 2 times, last: panicked (test fault); restarted"
        );
    }

    #[test]
    fn messages_come_out_of_both_payload_kinds() {
        let s = catch_unwind(|| panic!("plain")).expect_err("a panic");
        assert_eq!(panic_message(s.as_ref()), "plain");
        let n = 3;
        let s = catch_unwind(|| panic!("formatted {n}")).expect_err("an error");
        assert_eq!(panic_message(s.as_ref()), "formatted 3");
    }
}
