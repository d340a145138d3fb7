//! Small bounded hand-over queues between pipeline stages. A live stage never
//! waits on a slow consumer: when full, the oldest item is dropped. Batch runs,
//! where every frame matters and nothing is real-time, block instead.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a push does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest queued item (live mode).
    DropOldest,
    /// Wait for room (batch mode).
    Block,
}

/// The outcome of a pop.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<T> {
    Item(T),
    Timeout,
    Closed,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    dropped: u64,
}

/// A bounded multi-producer, multi-consumer queue.
#[derive(Debug)]
pub struct FrameQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    overflow: Overflow,
}

impl<T> FrameQueue<T> {
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        FrameQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.max(1)),
                closed: false,
                dropped: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
            overflow,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panicking holder cannot leave the queue half-updated (every update is
        // a single VecDeque call), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an item. Returns false (and drops the item) once the queue is closed.
    pub fn push(&self, item: T) -> bool {
        let mut s = self.lock();
        loop {
            if s.closed {
                return false;
            }
            if s.items.len() < self.capacity {
                break;
            }
            match self.overflow {
                Overflow::DropOldest => {
                    s.items.pop_front();
                    s.dropped += 1;
                    break;
                }
                Overflow::Block => {
                    s = self.not_full.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
        s.items.push_back(item);
        drop(s);
        self.not_empty.notify_one();
        true
    }

    /// Takes the oldest item, waiting up to `timeout` (forever with `None`).
    /// Items still queued at close are delivered before `Closed`.
    pub fn pop(&self, timeout: Option<Duration>) -> Pop<T> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = self.lock();
        loop {
            if let Some(item) = s.items.pop_front() {
                drop(s);
                self.not_full.notify_one();
                return Pop::Item(item);
            }
            if s.closed {
                return Pop::Closed;
            }
            match deadline {
                None => s = self.not_empty.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Pop::Timeout;
                    }
                    s = self
                        .not_empty
                        .wait_timeout(s, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// No more pushes; consumers drain what is left, then see `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Items dropped for lack of room so far.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drop_oldest_keeps_the_newest() {
        let q = FrameQueue::new(2, Overflow::DropOldest);
        for i in 0..5 {
            assert!(q.push(i));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop(Some(Duration::ZERO)), Pop::Item(3));
        assert_eq!(q.pop(Some(Duration::ZERO)), Pop::Item(4));
        assert_eq!(q.pop(Some(Duration::from_millis(5))), Pop::Timeout);
    }

    #[test]
    fn close_drains_then_reports_closed() {
        let q = FrameQueue::new(4, Overflow::DropOldest);
        q.push(1);
        q.close();
        assert!(!q.push(2));
        assert_eq!(q.pop(None), Pop::Item(1));
        assert_eq!(q.pop(None), Pop::Closed);
    }

    #[test]
    fn block_loses_nothing_under_a_slow_consumer() {
        let q = Arc::new(FrameQueue::new(2, Overflow::Block));
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    q.push(i);
                }
                q.close();
            })
        };
        let mut got = Vec::new();
        while let Pop::Item(i) = q.pop(None) {
            got.push(i);
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        producer.join().expect("producer");
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }

    #[test]
    fn a_blocked_push_is_released_by_close() {
        let q = Arc::new(FrameQueue::new(1, Overflow::Block));
        q.push(0);
        let h = {
            let q = q.clone();
            std::thread::spawn(move || q.push(1))
        };
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        assert!(!h.join().expect("join"));
    }
}
