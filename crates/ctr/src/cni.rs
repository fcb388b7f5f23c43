//! CNI (stub)
