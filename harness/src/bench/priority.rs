//! The measuring client's scheduling priority. On two cores the client, the origin, Viceroy's
//! host and the guest all compete for the CPU, and a client that loses it to the work it
//! measures reads that wait as the server's time. So the thread that measures runs above
//! the servers where the process may do so: `SCHED_FIFO` (it runs as soon as its socket is
//! readable), else nice −10. Only the calling thread is raised, and only after the servers
//! have started: children and threads inherit a thread's policy, and the servers must stay
//! at the ordinary priority the client is raised above.

/// What [`raise`] obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obtained {
    /// Real-time, first in first out, at this priority.
    Fifo(i32),
    /// Ordinary scheduling at this nice value (−10).
    Nice(i32),
    /// Nothing: the process may not raise a thread's priority.
    Unchanged,
}

impl Obtained {
    /// A phrase for the progress log and the report.
    pub fn describe(self) -> String {
        match self {
            Obtained::Fifo(p) => {
                format!("measuring client at SCHED_FIFO priority {p}, above the servers")
            }
            Obtained::Nice(n) => format!("measuring client at nice {n}, above the servers"),
            Obtained::Unchanged => "measuring client at the servers' own priority, as the \
                                    process may not raise it (root may: SCHED_FIFO)"
                .to_string(),
        }
    }
}

/// The calling thread's raised priority, put back when dropped (before the bench runs its
/// CPU-bound stage benchmarks, which must not inherit it).
pub struct Raised {
    pub obtained: Obtained,
    #[cfg(target_os = "linux")]
    restore_nice: i32,
}

/// The real-time priority asked for: the lowest, which is already above every ordinary
/// thread; the kernel's real-time throttling (95 % of each second by default) still leaves
/// the servers time should the client ever spin.
const FIFO_PRIORITY: i32 = 1;
const NICE: i32 = -10;

#[cfg(target_os = "linux")]
fn thread_id() -> libc::id_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

/// Raises the calling thread's priority as far as allowed: `SCHED_FIFO`, else nice −10.
#[cfg(target_os = "linux")]
pub fn raise() -> Raised {
    let tid = thread_id();
    // SAFETY: reads the calling thread's nice value; -1 is also a valid value, and on error
    // the restore below only sets what was there.
    let restore_nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
    let param = libc::sched_param {
        sched_priority: FIFO_PRIORITY,
    };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        return Raised {
            obtained: Obtained::Fifo(FIFO_PRIORITY),
            restore_nice,
        };
    }
    // Linux keeps a nice value per thread: with the thread's id this raises only the client.
    // SAFETY: plain system call on the calling thread's id.
    let obtained = if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, NICE) } == 0 {
        Obtained::Nice(NICE)
    } else {
        Obtained::Unchanged
    };
    Raised {
        obtained,
        restore_nice,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn raise() -> Raised {
    Raised {
        obtained: Obtained::Unchanged,
    }
}

#[cfg(target_os = "linux")]
impl Drop for Raised {
    fn drop(&mut self) {
        // SAFETY: system calls on the calling thread, with values it had or may have.
        unsafe {
            match self.obtained {
                Obtained::Fifo(_) => {
                    let param = libc::sched_param { sched_priority: 0 };
                    libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
                }
                Obtained::Nice(_) => {
                    libc::setpriority(libc::PRIO_PROCESS, thread_id(), self.restore_nice);
                }
                Obtained::Unchanged => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_says_what_the_client_ran_at() {
        assert!(Obtained::Fifo(1)
            .describe()
            .contains("SCHED_FIFO priority 1"));
        assert!(Obtained::Nice(-10).describe().contains("nice -10"));
        assert!(Obtained::Unchanged
            .describe()
            .contains("servers' own priority"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn raising_and_dropping_leaves_the_thread_as_it_was() {
        // On a thread of its own, so the test runner's threads are never touched.
        std::thread::spawn(|| {
            // SAFETY: these read the calling thread's policy and nice value.
            let policy = || unsafe { libc::sched_getscheduler(0) };
            let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, thread_id()) };
            let before = (policy(), nice());
            let raised = raise();
            match raised.obtained {
                Obtained::Fifo(_) => assert_eq!(policy(), libc::SCHED_FIFO),
                Obtained::Nice(n) => assert_eq!(nice(), n),
                Obtained::Unchanged => assert_eq!((policy(), nice()), before),
            }
            drop(raised);
            assert_eq!((policy(), nice()), before);
        })
        .join()
        .unwrap();
    }
}
