//! The JSON-RPC server: HTTP and WebSocket on one port, open CORS (wallets run in browsers),
//! batches, and limits on request size, response size and connections; the dashboard
//! ([`crate::dashboard`]) is served on the same port.

use std::{net::SocketAddr, sync::Arc};

use ir3_evm::EvmNode;
use jsonrpsee::{
    RpcModule,
    server::{BatchRequestConfig, IdProvider, Server, ServerConfig, ServerHandle},
    types::SubscriptionId,
};
use tower_http::cors::{Any, CorsLayer};

use crate::{
    api::{
        AnvilApiServer, AppsApiServer, DebugApiServer, EthApiServer, EthPubSubApiServer,
        EvmApiServer, Ir3ApiServer, NetApiServer, OtsApiServer, PeerAppsApiServer,
        PersonalApiServer, StatusApiServer, StorageApiServer, TestingApiServer, TraceApiServer,
        TxPoolApiServer, Web3ApiServer,
    },
    apps::AppsHandler,
    dashboard::DashboardLayer,
    dev::DevApi,
    error::RpcError,
    eth::EthApi,
    filters::Filters,
    inspect::InspectApi,
    misc::{NetApi, PersonalApi, Web3Api},
    network::Ir3Handler,
    peer_apps::PeerAppsHandler,
    pubsub::EthPubSub,
    status::StatusHandler,
    storage::StorageHandler,
};

/// Largest request body accepted, in bytes.
pub const DEFAULT_MAX_REQUEST_BYTES: u32 = 10 * 1024 * 1024;
/// Largest response body sent, in bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 100 * 1024 * 1024;
/// Most simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1_000;
/// Most calls in one batch.
pub const DEFAULT_MAX_BATCH_LEN: u32 = 1_000;
/// Most subscriptions per WebSocket connection.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 1_024;

/// Subscription ids as Ethereum clients expect them: `0x`-prefixed hex strings.
#[derive(Debug, Clone, Copy)]
struct HexIdProvider;

impl IdProvider for HexIdProvider {
    fn next_id(&self) -> SubscriptionId<'static> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt = std::process::id() as u64;
        SubscriptionId::Str(format!("0x{:016x}{:016x}", salt, n).into())
    }
}

/// Every namespace merged into one module.
pub fn rpc_module(
    node: Arc<EvmNode>,
    chunks: Arc<ir3_foundation::bt::ChunkService>,
    apps: Arc<ir3_apps::NativeApps>,
    peers: Arc<ir3_apps::peer::PeerApps>,
) -> Result<RpcModule<()>, RpcError> {
    let filters = Filters::new(node.clone());
    let mut module = RpcModule::new(());
    let merge_error = |e: jsonrpsee::core::RegisterMethodError| RpcError::Bind {
        addr: String::new(),
        reason: e.to_string(),
    };
    module.merge(EthApi::new(node.clone(), filters).into_rpc()).map_err(merge_error)?;
    module.merge(EthPubSub::new(node.clone()).into_rpc()).map_err(merge_error)?;
    module.merge(NetApi::new(node.clone()).into_rpc()).map_err(merge_error)?;
    module.merge(Web3Api.into_rpc()).map_err(merge_error)?;
    module.merge(PersonalApi::new(node.clone()).into_rpc()).map_err(merge_error)?;
    module.merge(Ir3Handler::new(node.clone()).into_rpc()).map_err(merge_error)?;
    module.merge(StorageHandler::new(chunks).into_rpc()).map_err(merge_error)?;
    module.merge(AppsHandler::new(node.clone(), apps.clone()).into_rpc()).map_err(merge_error)?;
    module
        .merge(PeerAppsHandler::new(node.clone(), peers, apps).into_rpc())
        .map_err(merge_error)?;
    module.merge(StatusHandler::new(node.clone()).into_rpc()).map_err(merge_error)?;
    let inspect = InspectApi::new(node.clone());
    module.merge(TxPoolApiServer::into_rpc(inspect.clone())).map_err(merge_error)?;
    module.merge(DebugApiServer::into_rpc(inspect.clone())).map_err(merge_error)?;
    module.merge(TraceApiServer::into_rpc(inspect.clone())).map_err(merge_error)?;
    module.merge(OtsApiServer::into_rpc(inspect)).map_err(merge_error)?;
    let dev = DevApi::new(node);
    module.merge(AnvilApiServer::into_rpc(dev.clone())).map_err(merge_error)?;
    module.merge(TestingApiServer::into_rpc(dev.clone())).map_err(merge_error)?;
    module.merge(EvmApiServer::into_rpc(dev)).map_err(merge_error)?;
    Ok(module)
}

/// Starts serving on `addr`; returns the bound address and the handle that stops the server.
pub async fn serve(
    addr: SocketAddr,
    node: Arc<EvmNode>,
    chunks: Arc<ir3_foundation::bt::ChunkService>,
    apps: Arc<ir3_apps::NativeApps>,
    peers: Arc<ir3_apps::peer::PeerApps>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let dashboard = DashboardLayer::new(!node.is_networked());
    let module = rpc_module(node, chunks, apps, peers)?;
    let cors = CorsLayer::new().allow_origin(Any).allow_headers(Any).allow_methods(Any);
    // The dashboard answers its own GETs (`/ui`, a browser's `/`); the rest reaches jsonrpsee.
    let middleware = tower::ServiceBuilder::new().layer(cors).layer(dashboard);
    let bind_error =
        |e: std::io::Error| RpcError::Bind { addr: addr.to_string(), reason: e.to_string() };
    let config = ServerConfig::builder()
        .max_request_body_size(DEFAULT_MAX_REQUEST_BYTES)
        .max_response_body_size(DEFAULT_MAX_RESPONSE_BYTES)
        .max_connections(DEFAULT_MAX_CONNECTIONS)
        .max_subscriptions_per_connection(DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .set_batch_request_config(BatchRequestConfig::Limit(DEFAULT_MAX_BATCH_LEN))
        .set_id_provider(HexIdProvider)
        .build();
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(middleware)
        .set_rpc_middleware(
            jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new()
                .layer_fn(crate::param_errors::GethParamErrors),
        )
        .build(addr)
        .await
        .map_err(bind_error)?;
    let local = server.local_addr().map_err(bind_error)?;
    Ok((local, server.start(module)))
}
