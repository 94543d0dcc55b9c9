//! Invalid parameters answered as geth answers them: jsonrpsee reports a parameter that does
//! not parse as `{"code": -32602, "message": "Invalid params", "data": "<serde error>"}`;
//! clients and the execution-apis conformance suite expect geth's
//! `{"code": -32602, "message": "invalid argument 0: <reason>"}` (no `data`). This RPC
//! middleware rewrites exactly those responses and passes everything else through untouched.

use std::future::Future;

use jsonrpsee::{
    MethodResponse,
    core::middleware::{Batch, Notification, RpcServiceT},
    types::{ErrorObject, Id, Request, error::INVALID_PARAMS_CODE},
};

/// The RPC middleware (see the module docs).
#[derive(Debug, Clone)]
pub struct GethParamErrors<S>(pub S);

impl<S> RpcServiceT for GethParamErrors<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let service = self.0.clone();
        async move {
            let id = request.id().into_owned();
            let response = service.call(request).await;
            match response.as_error_code() {
                Some(INVALID_PARAMS_CODE) => rewrite(id, response),
                _ => response,
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.0.batch(batch)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.0.notification(notification)
    }
}

/// jsonrpsee's parse failure as geth words it; any other invalid-params error is kept.
fn rewrite(id: Id<'static>, response: MethodResponse) -> MethodResponse {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(response.as_json().get()) else {
        return response;
    };
    let error = &body["error"];
    let (Some("Invalid params"), Some(data)) = (error["message"].as_str(), error["data"].as_str())
    else {
        return response;
    };
    let message = format!("invalid argument 0: {}", strip_position(data));
    let extensions = response.extensions().clone();
    MethodResponse::error(id, ErrorObject::owned(INVALID_PARAMS_CODE, message, None::<()>))
        .with_extensions(extensions)
}

/// serde_json's " at line L column C" suffix says nothing to a caller of one-line JSON.
fn strip_position(reason: &str) -> &str {
    match reason.rfind(" at line ") {
        Some(at) => &reason[..at],
        None => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serde_position_is_dropped() {
        assert_eq!(strip_position("bad hex at line 1 column 3"), "bad hex");
        assert_eq!(strip_position("bad hex"), "bad hex");
    }
}
