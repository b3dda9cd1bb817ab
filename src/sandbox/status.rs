//! Exit statuses: a command's own code, or 128+N for signal N (as shells and
//! bubblewrap report them).

use nix::sys::wait::WaitStatus;

pub fn code(ws: WaitStatus) -> i32 {
    match ws {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn statuses() {
        let p = Pid::from_raw(2);
        assert_eq!(code(WaitStatus::Exited(p, 7)), 7);
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGKILL, false)), 137);
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGTERM, true)), 143);
    }
}
