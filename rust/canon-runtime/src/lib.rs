//! canon-runtime
