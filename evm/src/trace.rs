//! Tracing with revm-inspectors (the library reth and Anvil use): geth's `debug_trace*` with
//! every built-in tracer (struct logger, callTracer, prestateTracer with diff mode,
//! 4byteTracer, ...) and parity's `trace_*`.
//!
//! A mined transaction is traced by re-executing its block on the parent's state up to it.

use std::sync::Arc;

use alloy_eips::BlockId;
use alloy_primitives::{B256, map::HashSet};
use alloy_rpc_types_eth::{TransactionInfo, TransactionRequest};
use alloy_rpc_types_trace::{
    geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult},
    parity::{LocalizedTransactionTrace, TraceResults, TraceType},
};
use revm::{
    ExecuteCommitEvm, InspectEvm,
    context::{BlockEnv, CfgEnv, result::ResultAndState},
    database::CacheDB,
    database_interface::DatabaseCommit,
    state::EvmState,
};
use revm_inspectors::tracing::{
    DebugInspector, DebugInspectorError, TracingInspector, TracingInspectorConfig,
    TransactionContext,
};

use crate::{
    block::{SignedTx, StoredBlock},
    call::{Purpose, call_setup},
    chain::Chain,
    error::{EvmError, Result},
    execute::{build_evm, evm_error, header_env, tx_env},
    node::EvmNode,
    state::StateAt,
};

/// The state a traced transaction runs on.
pub(crate) type TraceDb<'a> = CacheDB<StateAt<'a>>;

/// The environment of a mined or imported block, rebuilt from its header.
pub(crate) fn block_env_of(chain: &Chain, block: &StoredBlock) -> (CfgEnv, BlockEnv) {
    header_env(chain.config(), &block.header)
}

/// One transaction of a block being re-executed, with the state just before it.
pub(crate) struct ReplayStep<'s, 'a> {
    /// Its index in the block.
    pub index: usize,
    /// The transaction.
    pub tx: &'s SignedTx,
    /// The chain configuration's environment.
    pub cfg: &'s CfgEnv,
    /// The block's environment.
    pub block_env: &'s BlockEnv,
    /// The state before the transaction.
    pub db: &'s mut TraceDb<'a>,
}

/// Re-executes `block`'s transactions `0..=last` on its parent state. `visit` is called for
/// each; when it executes the transaction itself it returns the state to commit, otherwise the
/// transaction is executed plainly.
pub(crate) fn replay_block<'a>(
    chain: &'a Chain,
    block: &StoredBlock,
    last: usize,
    mut visit: impl FnMut(ReplayStep<'_, 'a>) -> Result<Option<EvmState>>,
) -> Result<()> {
    let mut db = CacheDB::new(chain.pre_state_of(block.number()));
    let (cfg, block_env) = block_env_of(chain, block);
    for (index, tx) in block.transactions.iter().enumerate().take(last.saturating_add(1)) {
        let step = ReplayStep { index, tx, cfg: &cfg, block_env: &block_env, db: &mut db };
        match visit(step)? {
            Some(state) => db.commit(state),
            None => {
                let mut evm = build_evm(&mut db, cfg.clone(), block_env.clone(), ());
                evm.transact_commit(tx_env(tx)).map_err(evm_error)?;
            }
        }
    }
    Ok(())
}

fn debug_error<E: std::fmt::Display>(error: DebugInspectorError<E>) -> EvmError {
    match error {
        DebugInspectorError::Database(e) => EvmError::Internal(e.to_string()),
        other => EvmError::InvalidParams(other.to_string()),
    }
}

/// Runs one transaction of a replayed block under a geth tracer.
fn geth_trace_step(
    step: ReplayStep<'_, '_>,
    opts: &GethDebugTracingOptions,
    block_hash: B256,
) -> Result<(GethTrace, EvmState)> {
    let mut inspector = DebugInspector::new(opts.clone()).map_err(debug_error)?;
    let tx = tx_env(step.tx);
    let mut pre = step.db.clone();
    let mut evm =
        build_evm(&mut *step.db, step.cfg.clone(), step.block_env.clone(), &mut inspector);
    let result = evm.inspect_tx(tx.clone()).map_err(evm_error)?;
    let result = ResultAndState::new(result.result, result.state);
    let context = TransactionContext {
        block_hash: Some(block_hash),
        tx_index: Some(step.index),
        tx_hash: Some(step.tx.hash),
    };
    let trace = inspector
        .get_result(Some(context), &tx, step.block_env, &result, &mut pre)
        .map_err(debug_error)?;
    Ok((trace, result.state))
}

/// Runs one transaction of a replayed block under parity's tracer.
fn parity_trace_step(
    step: ReplayStep<'_, '_>,
    block: &StoredBlock,
    types: Option<&HashSet<TraceType>>,
) -> Result<(Vec<LocalizedTransactionTrace>, Option<TraceResults>, EvmState)> {
    let config = match types {
        Some(types) => TracingInspectorConfig::from_parity_config(types),
        None => TracingInspectorConfig::default_parity(),
    };
    let mut inspector = TracingInspector::new(config);
    let pre = step.db.clone();
    let mut evm =
        build_evm(&mut *step.db, step.cfg.clone(), step.block_env.clone(), &mut inspector);
    let result = evm.inspect_tx(tx_env(step.tx)).map_err(evm_error)?;
    let result = ResultAndState::new(result.result, result.state);
    // Parity traces report the execution gas (intrinsic gas excluded), as reth and Anvil do.
    let builder = inspector.into_parity_builder();
    let info = TransactionInfo {
        hash: Some(step.tx.hash),
        index: Some(step.index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        base_fee: block.header.base_fee_per_gas,
        block_timestamp: Some(block.header.timestamp),
    };
    match types {
        Some(types) => {
            let results = builder
                .into_trace_results_with_state(&result, types, &pre)
                .map_err(|e| EvmError::Internal(e.to_string()))?;
            Ok((Vec::new(), Some(results), result.state))
        }
        None => Ok((builder.into_localized_transaction_traces(info), None, result.state)),
    }
}

fn locate(chain: &Chain, hash: B256) -> Result<(Arc<StoredBlock>, usize)> {
    chain
        .locate_tx(hash)
        .ok_or_else(|| EvmError::BlockNotFound(format!("transaction {hash} not found")))
}

fn block_of(chain: &Chain, id: BlockId) -> Result<Arc<StoredBlock>> {
    let number = chain.resolve(Some(id))?;
    chain.block(number).ok_or_else(|| EvmError::BlockNotFound(format!("block {id}")))
}

impl EvmNode {
    /// `debug_traceTransaction`.
    pub async fn debug_trace_transaction(
        self: &Arc<Self>,
        hash: B256,
        opts: GethDebugTracingOptions,
    ) -> Result<GethTrace> {
        self.blocking(move |chain| {
            let (block, index) = locate(chain, hash)?;
            let mut trace = None;
            replay_block(chain, &block, index, |step| {
                if step.index < index {
                    return Ok(None);
                }
                let (result, state) = geth_trace_step(step, &opts, block.hash)?;
                trace = Some(result);
                Ok(Some(state))
            })?;
            trace.ok_or_else(|| EvmError::Internal("transaction was not replayed".into()))
        })
        .await
    }

    /// `debug_traceBlockByNumber` / `debug_traceBlockByHash`.
    pub async fn debug_trace_block(
        self: &Arc<Self>,
        id: BlockId,
        opts: GethDebugTracingOptions,
    ) -> Result<Vec<TraceResult>> {
        self.blocking(move |chain| {
            let block = block_of(chain, id)?;
            if block.number() == 0 {
                return Err(EvmError::Unavailable("genesis is not traceable".into()));
            }
            let mut traces = Vec::with_capacity(block.transactions.len());
            if block.transactions.is_empty() {
                return Ok(traces);
            }
            replay_block(chain, &block, block.transactions.len() - 1, |step| {
                let tx_hash = Some(step.tx.hash);
                let (result, state) = geth_trace_step(step, &opts, block.hash)?;
                traces.push(TraceResult::Success { result, tx_hash });
                Ok(Some(state))
            })?;
            Ok(traces)
        })
        .await
    }

    /// `debug_traceCall`: a call traced on a block's post-state (with state overrides).
    pub async fn debug_trace_call(
        self: &Arc<Self>,
        request: TransactionRequest,
        block: Option<BlockId>,
        opts: GethDebugTracingCallOptions,
    ) -> Result<GethTrace> {
        let node = self.clone();
        self.blocking(move |chain| {
            let overrides = opts.state_overrides.as_ref();
            let (prepared, mut db) =
                call_setup(&node, chain, &request, block, Purpose::Call, overrides)?;
            let mut pre = db.clone();
            let mut inspector =
                DebugInspector::new(opts.tracing_options.clone()).map_err(debug_error)?;
            let mut evm =
                build_evm(&mut db, prepared.cfg.clone(), prepared.block.clone(), &mut inspector);
            let result = evm.inspect_tx(prepared.tx.clone()).map_err(evm_error)?;
            let result = ResultAndState::new(result.result, result.state);
            inspector
                .get_result(None, &prepared.tx, &prepared.block, &result, &mut pre)
                .map_err(debug_error)
        })
        .await
    }

    /// `trace_transaction`: parity-style traces of a mined transaction.
    pub async fn trace_transaction(
        self: &Arc<Self>,
        hash: B256,
    ) -> Result<Option<Vec<LocalizedTransactionTrace>>> {
        self.blocking(move |chain| {
            let Ok((block, index)) = locate(chain, hash) else { return Ok(None) };
            let mut traces = Vec::new();
            replay_block(chain, &block, index, |step| {
                if step.index < index {
                    return Ok(None);
                }
                let (result, _, state) = parity_trace_step(step, &block, None)?;
                traces = result;
                Ok(Some(state))
            })?;
            Ok(Some(traces))
        })
        .await
    }

    /// `trace_block`: parity-style traces of every transaction of a block.
    pub async fn trace_block(
        self: &Arc<Self>,
        id: BlockId,
    ) -> Result<Option<Vec<LocalizedTransactionTrace>>> {
        self.blocking(move |chain| {
            let Ok(block) = block_of(chain, id) else { return Ok(None) };
            let mut traces = Vec::new();
            if block.transactions.is_empty() {
                return Ok(Some(traces));
            }
            replay_block(chain, &block, block.transactions.len() - 1, |step| {
                let (result, _, state) = parity_trace_step(step, &block, None)?;
                traces.extend(result);
                Ok(Some(state))
            })?;
            Ok(Some(traces))
        })
        .await
    }

    /// `trace_replayTransaction`: the requested trace types (trace, vmTrace, stateDiff).
    pub async fn trace_replay_transaction(
        self: &Arc<Self>,
        hash: B256,
        types: HashSet<TraceType>,
    ) -> Result<TraceResults> {
        self.blocking(move |chain| {
            let (block, index) = locate(chain, hash)?;
            let mut results = None;
            replay_block(chain, &block, index, |step| {
                if step.index < index {
                    return Ok(None);
                }
                let (_, result, state) = parity_trace_step(step, &block, Some(&types))?;
                results = result;
                Ok(Some(state))
            })?;
            results.ok_or_else(|| EvmError::Internal("transaction was not replayed".into()))
        })
        .await
    }
}
