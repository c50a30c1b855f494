//! SDK subscribers: per flag, the versions they were told of only go up.
//! (Convergence to the final state is part of the liveness condition.)

use std::sync::{Arc, Mutex};

use super::Violation;
use crate::workload::SdkView;

pub fn contiguous(views: &[Arc<Mutex<SdkView>>]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (i, view) in views.iter().enumerate() {
        let v = view.lock().unwrap_or_else(|p| p.into_inner());
        for (key, seen) in &v.versions {
            // A deletion (None) may be followed by a re-creation at a
            // higher version; everything else must increase.
            let numbers: Vec<u64> = seen.iter().flatten().copied().collect();
            if numbers.windows(2).any(|w| w[1] <= w[0]) {
                out.push(Violation(format!(
                    "SDK subscriber {i} saw {key} go back: {seen:?}"
                )));
            }
        }
    }
    out
}
