//! Run records. (Placeholder.)
