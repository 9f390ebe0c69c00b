//! Stages composed in order: each stage's output is the next stage's input.

use bytes::Bytes;

use crate::{Sink, Transform, TransformError};

#[derive(Default)]
pub struct Pipeline {
    stages: Vec<Box<dyn Transform>>,
    // Scratch sinks reused between calls, one per stage boundary, so pumping a body
    // allocates nothing per chunk beyond what the stages themselves produce.
    scratch: Vec<Sink>,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Transform>>) -> Self {
        let scratch = stages.iter().map(|_| Vec::new()).collect();
        Pipeline { stages, scratch }
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Pushes one input chunk through every stage.
    pub fn push(&mut self, chunk: Bytes, out: &mut Sink) -> Result<(), TransformError> {
        self.run(Some(chunk), Step::Push, out)
    }

    /// Flushes every stage in order, each stage's flushed output going through the stages
    /// after it, so that nothing that can no longer change is held anywhere in the pipeline.
    pub fn flush(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.run(None, Step::Flush, out)
    }

    pub fn finish(&mut self, out: &mut Sink) -> Result<(), TransformError> {
        self.run(None, Step::Finish, out)
    }

    fn run(
        &mut self,
        input: Option<Bytes>,
        step: Step,
        out: &mut Sink,
    ) -> Result<(), TransformError> {
        if self.stages.is_empty() {
            out.extend(input);
            return Ok(());
        }
        let mut carried: Sink = input.into_iter().collect();
        let last = self.stages.len() - 1;
        for (i, stage) in self.stages.iter_mut().enumerate() {
            let mut produced = std::mem::take(&mut self.scratch[i]);
            for chunk in carried.drain(..) {
                stage.push(chunk, &mut produced)?;
            }
            match step {
                Step::Push => {}
                Step::Flush => stage.flush(&mut produced)?,
                Step::Finish => stage.finish(&mut produced)?,
            }
            // Hand the carried buffer back for reuse and move on with what this stage made.
            self.scratch[i] = carried;
            carried = produced;
            if i == last {
                out.append(&mut carried);
                self.scratch[i] = carried;
                break;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Step {
    Push,
    Flush,
    Finish,
}
