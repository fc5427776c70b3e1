//! (being written: see /work/plan.md)
