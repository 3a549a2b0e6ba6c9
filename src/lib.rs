//! Host package for the workspace-level `examples/` and `tests/`; it has no
//! code of its own. Its documentation is the README, so that the README's
//! code compiles in the doctests.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
