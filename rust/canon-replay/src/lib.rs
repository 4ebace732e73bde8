//! canon-replay
