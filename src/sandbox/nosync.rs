//! No fsync in the sandbox (as mock's nosync and eatmydata): a seccomp
//! filter makes `fsync`, `fdatasync`, `sync`, `syncfs` and
//! `sync_file_range` return success without doing anything. A root being
//! built is thrown away when anything fails, so waiting for the disk buys
//! nothing; brt syncs the finished root once instead (`syncfs`).
//!
//! The filter is a seccomp program of brt's own rather than a crate's,
//! because it must let every other call through for *every* ABI: a crate
//! that kills processes of an unexpected architecture would kill the i386
//! programs of a root. qemu-user turns a foreign program's `fsync` into the
//! host's `fsync`, so one filter for the host's ABI serves emulated and
//! native programs alike.

/// `AUDIT_ARCH_*` (linux/audit.h): EM_* | 64-bit | little-endian.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// `offsetof(struct seccomp_data, nr)` and `arch`.
const NR: u32 = 0;
const ARCH: u32 = 4;

/// The sync calls of one ABI: its audit arch and the syscall numbers.
struct Abi {
    arch: u32,
    calls: &'static [u32],
}

/// x86_64: fsync 74, fdatasync 75, sync 162, sync_file_range 277, syncfs 306.
/// i386: fsync 118, fdatasync 148, sync 36, sync_file_range 314, syncfs 344.
/// aarch64 (generic table): sync 81, fsync 82, fdatasync 83,
/// sync_file_range 84, syncfs 267.
const ABIS: &[Abi] = &[
    Abi {
        arch: AUDIT_ARCH_X86_64,
        calls: &[74, 75, 162, 277, 306],
    },
    Abi {
        arch: AUDIT_ARCH_I386,
        calls: &[118, 148, 36, 314, 344],
    },
    Abi {
        arch: AUDIT_ARCH_AARCH64,
        calls: &[81, 82, 83, 84, 267],
    },
];

/// The filter as classic BPF: for each ABI, check the arch, then each call
/// number; a match returns `ERRNO(0)` (success), anything else is allowed.
pub fn program() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let mut prog = Vec::new();
    for abi in ABIS {
        let n = abi.calls.len() as u8;
        prog.push(load(ARCH));
        // Not this ABI: skip its number checks and its two returns.
        prog.push(jeq(abi.arch, 0, n + 3));
        prog.push(load(NR));
        for (i, &nr) in abi.calls.iter().enumerate() {
            let i = i as u8;
            // A match jumps to the ERRNO(0) return after the last check and
            // the ALLOW return.
            prog.push(jeq(nr, n - i, 0));
        }
        prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
        prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO));
    }
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one (arch, nr) as the kernel would.
    fn verdict(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = &prog[pc];
            let code = u32::from(ins.code);
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                acc = if ins.k == ARCH { arch } else { nr };
                pc += 1;
            } else if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K {
                let off = if acc == ins.k { ins.jt } else { ins.jf };
                pc += 1 + usize::from(off);
            } else if code == libc::BPF_RET | libc::BPF_K {
                return ins.k;
            } else {
                panic!("unexpected instruction {code:#x}");
            }
        }
    }

    #[test]
    fn sync_calls_succeed_without_syncing_and_nothing_else_is_touched() {
        let prog = program();
        assert!(prog.len() < 64);
        for abi in ABIS {
            for &nr in abi.calls {
                assert_eq!(
                    verdict(&prog, abi.arch, nr),
                    libc::SECCOMP_RET_ERRNO,
                    "{:#x} {nr}",
                    abi.arch
                );
            }
            // read, write, openat and execve on each ABI go through.
            for nr in [0, 1, 3, 4, 11, 56, 59, 63, 64, 221, 257] {
                if !abi.calls.contains(&nr) {
                    assert_eq!(verdict(&prog, abi.arch, nr), libc::SECCOMP_RET_ALLOW);
                }
            }
        }
        // x86_64's fsync number on another ABI (riscv64) is its own call.
        let riscv64 = 243 | 0x8000_0000 | 0x4000_0000;
        assert_eq!(verdict(&prog, riscv64, 74), libc::SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&prog, AUDIT_ARCH_I386, 74), libc::SECCOMP_RET_ALLOW);
    }
}
