//! Filling an object: no usable object (or a marker that says the last answer could not be
//! stored) obliges this request to fetch, and what may be stored is written into the object at
//! the origin's pace while every client, this one included, reads it as it grows.

use bytes::Bytes;
use fastly::cache::core::{Found, Transaction};
use fastly::http::StatusCode;
use fastly::Request;
use firstbyte_config::{CacheSettings, Route};

use super::exchange::Exchange;
use super::fill_request::FillRequest;
use super::respond::{self, Answer};
use super::write::{self, written, Filling, Object};
use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::origin::Shaped;
use crate::timing::Clock;

impl Exchange<'_, '_> {
    /// No usable object: fetch, and store what may be stored, the client reading it from the
    /// cache as it is written.
    pub(super) fn fill(
        mut self,
        tx: Transaction,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let shaped = self.fetch(None, record)?;
        match self.admit(&shaped) {
            Err((marker, why)) => {
                write::mark(tx, marker, &self.fill, &shaped.resp.header_values("vary"));
                self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock)
            }
            Ok(object) => match write::insert_and_stream_back(tx, &object, &self.fill) {
                Ok((writer, found)) => {
                    record.cached(CacheStatus::Miss, None);
                    let answer = Answer {
                        status: CacheStatus::Miss,
                        age: object.freshness.age,
                        origin: shaped.origin,
                    };
                    self.answer_and_write(writer, &found, shaped, &object, answer, record, clock)
                }
                Err(e) => {
                    log::warn!("cache insertion failed: {e}");
                    let why = format!("insertion failed: {e}");
                    self.send(shaped, &req, CacheStatus::Bypass, Some(why), record, clock)
                }
            },
        }
    }

    /// A marker says the last response could not be stored: fetch at once, without waiting
    /// on anyone, and store this response if it may be (hit-for-miss).
    pub(super) fn fill_beside(
        mut self,
        req: Request,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        let shaped = self.fetch(None, record)?;
        let object = match self.admit(&shaped) {
            Ok(object) => object,
            Err((_, why)) => {
                let why = format!("marked uncacheable, still: {why}");
                return self.send(shaped, &req, CacheStatus::Pass, Some(why), record, clock);
            }
        };
        match write::insert_beside(&self.key, &object, &self.fill) {
            Ok((writer, Some(found))) => {
                record.cached(
                    CacheStatus::Miss,
                    Some("stored where a marker stood".into()),
                );
                let answer = Answer {
                    status: CacheStatus::Miss,
                    age: object.freshness.age,
                    origin: shaped.origin,
                };
                self.answer_and_write(writer, &found, shaped, &object, answer, record, clock)
            }
            Ok((writer, None)) => {
                // Replaced at once by another request's object: store ours anyway, answer
                // from nothing this request can read.
                let _ = self.write(writer, shaped, &object, record);
                Err(Failure::new(
                    StatusCode::BAD_GATEWAY,
                    "the object just stored could not be read back",
                ))
            }
            Err(e) => {
                let why = format!("insertion failed: {e}");
                self.send(shaped, &req, CacheStatus::Bypass, Some(why), record, clock)
            }
        }
    }

    /// Writes a fill's body into its object; on failure the insertion is purged (and, when
    /// the object outgrew the limit, a marker keeps the next requests from collapsing onto
    /// another such object). Readers of the object see its body cut, never complete.
    pub(super) fn write(
        &self,
        writer: fastly::http::body::StreamingBody,
        shaped: Shaped,
        object: &Object,
        record: &mut AccessRecord,
    ) -> Result<(), String> {
        let filling = self.filling(writer, shaped, object, record)?;
        written(filling.run(), record)
    }

    /// The writing of a fill's body, to run or to step.
    pub(super) fn filling(
        &self,
        writer: fastly::http::body::StreamingBody,
        shaped: Shaped,
        object: &Object,
        record: &mut AccessRecord,
    ) -> Result<Filling, String> {
        filling(
            self.route,
            self.settings,
            &self.key,
            &self.fill,
            writer,
            shaped,
            object,
            Some(record),
        )
    }

    /// Answers the client from the object being inserted (`found`) and writes the object,
    /// the fill's body at the origin's pace: after the answer, which the host streams from
    /// the cache as the object grows; or, for a template, beside the page composed from it,
    /// in the page's own loop.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer_and_write(
        &mut self,
        writer: fastly::http::body::StreamingBody,
        found: &Found,
        shaped: Shaped,
        object: &Object,
        answer: Answer,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Result<(), Failure> {
        if object.stored.template && self.composing.is_some() {
            let filling = self
                .filling(writer, shaped, object, record)
                .map_err(|reason| Failure::new(StatusCode::BAD_GATEWAY, reason))?;
            let composing = self.composing.as_deref_mut();
            return respond::respond_filling(
                found,
                &object.stored,
                &self.ask,
                answer,
                record,
                clock,
                self.route,
                composing,
                Some(filling),
                &self.key,
            );
        }
        let answered = self.respond(found, &object.stored, answer, record, clock);
        // A failure is logged and in the access record; the client's body is cut.
        let _ = self.write(writer, shaped, object, record);
        answered
    }
}

/// The writing of a fill's body into its object, through the route's pipeline; `record`, when
/// the fill is a client's, notes the transforms.
#[allow(clippy::too_many_arguments)]
pub(super) fn filling(
    route: &Route,
    settings: &CacheSettings,
    key: &Bytes,
    fill: &FillRequest,
    writer: fastly::http::body::StreamingBody,
    mut shaped: Shaped,
    object: &Object,
    record: Option<&mut AccessRecord>,
) -> Result<Filling, String> {
    let pipeline = match shaped.pipeline(route, record) {
        Ok(pipeline) => pipeline,
        Err(failure) => {
            writer.abandon().ok();
            write::purge(&object.stored.object_key);
            return Err(failure.reason);
        }
    };
    let opts = shaped.pump_options(route, pipeline);
    Ok(Filling::new(
        writer,
        shaped.body,
        opts,
        settings.max_bytes,
        object,
        key,
        fill,
    ))
}
