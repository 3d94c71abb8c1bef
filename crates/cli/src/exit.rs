//! The exit codes of `rsign`, shared by every command.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | success: the command did its job, the signature verified, the policy allowed |
//! | 1 | verification failed or denied: something was there, nothing acceptable (wrong key, wrong digest, threshold unmet, policy deny) |
//! | 2 | usage or any other error: bad arguments, unreadable key, bad input, registry unreachable, a limit exceeded |
//! | 3 | nothing to verify: no signature or attestation is attached |
//!
//! `--help` and `--version` exit 0; clap's usage errors exit 2. A closed
//! standard output (`rsign ... | head`) is not an error and exits 0.

use std::process::ExitCode;

/// How a run of `rsign` ended; see the module docs for the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, verified or allowed.
    Success,
    /// 1: verification failed or the policy denied.
    Failure,
    /// 2: usage or any other error.
    Error,
    /// 3: nothing to verify.
    NothingToVerify,
}

impl ExitStatus {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Error => 2,
            Self::NothingToVerify => 3,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            ExitStatus::Success,
            ExitStatus::Failure,
            ExitStatus::Error,
            ExitStatus::NothingToVerify,
        ];
        let codes: Vec<u8> = all.iter().map(|s| s.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
    }
}
