//! TODO summary
