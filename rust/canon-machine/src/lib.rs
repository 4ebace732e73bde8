//! canon-machine
