pub struct Pattern;
pub struct PatternError;
