//! Saying a recurring problem once. A failure that repeats every frame (an
//! output that cannot write, an effect that fails, an encoder error) is
//! logged when it starts and when it changes, not once per frame; its end is
//! noticed once, so the caller can say it recovered.

/// The problem said last, if it still holds.
#[derive(Debug, Default)]
pub struct SayOnce {
    last: Option<String>,
}

impl SayOnce {
    pub fn new() -> Self {
        SayOnce::default()
    }

    /// True when `msg` is not the problem said last (the caller logs it
    /// now); it becomes the problem said last.
    pub fn first(&mut self, msg: &str) -> bool {
        if self.last.as_deref() == Some(msg) {
            return false;
        }
        self.last = Some(msg.to_string());
        true
    }

    /// The problem is over. True when one was being said (the caller may
    /// log that things work again).
    pub fn clear(&mut self) -> bool {
        self.last.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_said_when_it_starts_and_changes_only() {
        let mut s = SayOnce::new();
        assert!(!s.clear(), "nothing to recover from yet");
        assert!(s.first("disk full"));
        assert!(!s.first("disk full"));
        assert!(!s.first("disk full"));
        assert!(s.first("device gone"));
        assert!(s.clear());
        assert!(!s.clear());
        assert!(
            s.first("device gone"),
            "after recovering, the same problem is new again"
        );
    }
}
