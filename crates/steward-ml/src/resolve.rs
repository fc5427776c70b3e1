//! Model resolution.
