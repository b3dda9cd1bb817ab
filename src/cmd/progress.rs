//! Download progress on the terminal (indicatif), hidden without one, with
//! `-q` or `--no-progress`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use brt::fetch::Reporter;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(visible: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes} {binary_bytes_per_sec:>12} {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bar { bar }
    }
}

impl Reporter for Bar {
    fn start(&self, what: &str, total_bytes: u64, _count: usize) {
        self.bar.set_message(what.to_string());
        self.bar.set_length(total_bytes);
        self.bar.set_position(0);
        self.bar.reset_eta();
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
