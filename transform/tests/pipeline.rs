//! The pipeline composes stages without changing what they would do alone.

use bytes::Bytes;
use firstbyte_transform::testing::{concat, run};
use firstbyte_transform::{Pipeline, Sink, Transform, TransformError};
use proptest::prelude::*;

/// Uppercases ASCII; holds nothing.
struct Upper;

impl Transform for Upper {
    fn name(&self) -> &'static str {
        "upper"
    }
    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        out.push(Bytes::from(chunk.to_ascii_uppercase()));
        Ok(())
    }
    fn flush(&mut self, _: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }
    fn finish(&mut self, _: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }
}

/// Holds everything until flush or finish, then appends a marker at the end.
struct Batch {
    held: Vec<u8>,
}

impl Transform for Batch {
    fn name(&self) -> &'static str {
        "batch"
    }
    fn push(&mut self, chunk: Bytes, _: &mut Sink) -> Result<(), TransformError> {
        self.held.extend_from_slice(&chunk);
        Ok(())
    }
    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        out.push(Bytes::from(std::mem::take(&mut self.held)));
        Ok(())
    }
    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.flush(out)?;
        out.push(Bytes::from_static(b"|end"));
        Ok(())
    }
}

/// Fails on a byte.
struct FailOn(u8);

impl Transform for FailOn {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        if chunk.contains(&self.0) {
            return Err(TransformError::new("fail", "bad byte"));
        }
        out.push(chunk);
        Ok(())
    }
    fn flush(&mut self, _: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }
    fn finish(&mut self, _: &mut Sink) -> Result<(), TransformError> {
        Ok(())
    }
}

fn pipeline() -> Pipeline {
    Pipeline::new(vec![Box::new(Batch { held: Vec::new() }), Box::new(Upper)])
}

struct AsStage(Pipeline);

impl Transform for AsStage {
    fn name(&self) -> &'static str {
        "pipeline"
    }
    fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        self.0.push(chunk, out)
    }
    fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.0.flush(out)
    }
    fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.0.finish(out)
    }
}

#[test]
fn empty_pipeline_passes_chunks_through() {
    let mut p = Pipeline::new(Vec::new());
    let mut out = Sink::new();
    p.push(Bytes::from_static(b"\xffab"), &mut out).unwrap();
    p.flush(&mut out).unwrap();
    p.finish(&mut out).unwrap();
    assert_eq!(concat(&out), b"\xffab");
}

#[test]
fn flush_reaches_through_every_stage() {
    let mut p = pipeline();
    let mut out = Sink::new();
    p.push(Bytes::from_static(b"abc"), &mut out).unwrap();
    assert!(concat(&out).is_empty(), "batch holds until flush");
    p.flush(&mut out).unwrap();
    assert_eq!(
        concat(&out),
        b"ABC",
        "the flushed bytes also pass the later stage"
    );
    p.finish(&mut out).unwrap();
    assert_eq!(concat(&out), b"ABC|END");
    assert_eq!(p.names(), ["batch", "upper"]);
}

#[test]
fn errors_carry_the_failing_stage() {
    let mut p = Pipeline::new(vec![Box::new(Upper), Box::new(FailOn(b'X'))]);
    let err = p
        .push(Bytes::from_static(b"x"), &mut Sink::new())
        .unwrap_err();
    assert_eq!(err.stage, "fail");
}

proptest! {
    #[test]
    fn output_does_not_depend_on_the_split(
        input in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(0usize..300, 0..20),
        flush_each in any::<bool>(),
    ) {
        let whole = run(&mut AsStage(pipeline()), &input, &[], false).unwrap();
        let split = run(&mut AsStage(pipeline()), &input, &cuts, flush_each).unwrap();
        prop_assert_eq!(whole, split);
    }
}
