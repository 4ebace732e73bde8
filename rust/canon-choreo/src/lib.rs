//! canon-choreo
