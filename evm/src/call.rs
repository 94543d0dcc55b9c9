//! Read-only execution: `eth_call` (with state overrides), `eth_estimateGas` and
//! `eth_createAccessList`. Each runs on a blocking thread, a bounded number at a time.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_rpc_types_eth::{
    AccessList, AccessListResult, TransactionRequest,
    state::{AccountOverride, StateOverride},
};
use revm::{
    ExecuteEvm, InspectEvm,
    bytecode::Bytecode,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction},
    },
    context_interface::either::Either,
    database::CacheDB,
    database_interface::{DatabaseCommit, DatabaseRef},
    primitives::{eip7825::TX_GAS_LIMIT_CAP, hardfork::SpecId},
};
use revm_inspectors::access_list::AccessListInspector;
use tokio::sync::Semaphore;

use crate::{
    chain::Chain,
    error::{EvmError, Result},
    events::BlockContext,
    execute::{
        build_evm, evm_env, evm_error, execute_block, execution_output, halt_message, header_env,
    },
    node::EvmNode,
    state::{StateAt, StateReadError},
};

/// Where [`EvmNode::run_code`] places the bytecode it runs (no account lives there).
pub const CODE_ADDRESS: Address = Address::new([0xc0; 20]);
/// How many calls and estimates may execute at once.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;
/// Gas of a plain value transfer.
const TRANSFER_GAS: u64 = 21_000;

static CALL_PERMITS: Semaphore = Semaphore::const_new(DEFAULT_MAX_CONCURRENT_CALLS);

/// The state a call runs on: a block's post-state with the call's changes cached over it.
pub(crate) type CallDb<'a> = CacheDB<StateAt<'a>>;

/// A call prepared against one block's post-state.
pub(crate) struct PreparedCall {
    pub(crate) cfg: CfgEnv,
    pub(crate) block: BlockEnv,
    pub(crate) tx: TxEnv,
    gas_cap: u64,
}

impl EvmNode {
    /// `eth_call`: the return data, or the revert/halt error.
    pub async fn call(
        self: &Arc<Self>,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> Result<alloy_primitives::Bytes> {
        let node = self.clone();
        self.blocking(move |chain| {
            let (prepared, db) =
                call_setup(&node, chain, &request, block, Purpose::Call, overrides.as_ref())?;
            let result = transact(db, &prepared, prepared.tx.clone())?;
            execution_output(result)
        })
        .await
    }

    /// Runs `code` with calldata `data` as a call at the latest block (the compute app's
    /// evaluation): the bytecode is placed at [`CODE_ADDRESS`] by a state override.
    pub async fn run_code(
        self: &Arc<Self>,
        code: alloy_primitives::Bytes,
        data: alloy_primitives::Bytes,
    ) -> Result<alloy_primitives::Bytes> {
        let request = TransactionRequest::default().to(CODE_ADDRESS).input(data.into());
        let mut overrides = StateOverride::default();
        overrides.insert(CODE_ADDRESS, AccountOverride { code: Some(code), ..Default::default() });
        self.call(request, None, Some(overrides)).await
    }

    /// `eth_estimateGas`: the smallest gas limit under which the call succeeds.
    pub async fn estimate_gas(
        self: &Arc<Self>,
        request: TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> Result<u64> {
        let node = self.clone();
        self.blocking(move |chain| {
            let (prepared, db) =
                call_setup(&node, chain, &request, block, Purpose::Estimate, overrides.as_ref())?;
            estimate(&db, &prepared)
        })
        .await
    }

    /// `eth_createAccessList`: the storage the call touches, and the gas it uses with that list.
    pub async fn create_access_list(
        self: &Arc<Self>,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> Result<AccessListResult> {
        let node = self.clone();
        self.blocking(move |chain| {
            let (prepared, db) = call_setup(&node, chain, &request, block, Purpose::Call, None)?;
            let initial = request.access_list.clone().unwrap_or_default();
            let mut evm = build_evm(
                db.clone(),
                prepared.cfg.clone(),
                prepared.block.clone(),
                AccessListInspector::new(initial),
            );
            let result = evm.inspect_one_tx(prepared.tx.clone()).map_err(evm_error)?;
            let access_list: AccessList = evm.inspector.into_access_list();
            let mut tx = prepared.tx.clone();
            tx.access_list = access_list.clone();
            if tx.tx_type == 0 {
                tx.tx_type = 1;
            }
            let final_result = transact(db, &prepared, tx).unwrap_or(result);
            let error = execution_output(final_result.clone()).err().map(|e| e.to_string());
            Ok(AccessListResult {
                access_list,
                gas_used: U256::from(final_result.tx_gas_used()),
                error,
            })
        })
        .await
    }

    /// Runs `job` on a blocking thread, a bounded number at a time, with the chain read through
    /// [`EvmNode::read_state`] (a forked parent is not waited on under the lock; `job` may run
    /// more than once).
    pub(crate) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        mut job: impl FnMut(&Chain) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = CALL_PERMITS.acquire().await.map_err(|_| EvmError::ShuttingDown)?;
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.read_state(&mut job))
            .await
            .map_err(|e| EvmError::Internal(format!("call task failed: {e}")))?
    }
}

/// The most gas a single call may use on this chain.
fn gas_cap(chain: &Chain, block_gas_limit: u64) -> u64 {
    if chain.config().spec >= SpecId::OSAKA {
        block_gas_limit.min(TX_GAS_LIMIT_CAP)
    } else {
        block_gas_limit
    }
}

/// What a call is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `eth_call`, `eth_createAccessList`, `debug_traceCall`: at the block asked for.
    Call,
    /// `eth_estimateGas`: at `latest` (the default) too, the transaction is estimated in the
    /// block it will be mined in.
    Estimate,
}

/// The block context and the state a call at `block` runs in.
///
/// `pending` is the block the miner would seal next: its number, its timestamp as the miner
/// would choose it (the dev clock: `evm_setNextBlockTimestamp`, `evm_increaseTime`, intervals),
/// its base fee and gas limit, over the latest state with the pool's executable transactions
/// applied, as the miner would run them. An estimate at `latest` (the default) runs in that
/// next block's context over the latest state, since the transaction is mined there: a
/// contract whose gas depends on `block.timestamp` or `block.number` needs it. Any other block
/// is its own context over its post-state. State overrides apply last.
pub(crate) fn call_setup<'a>(
    node: &EvmNode,
    chain: &'a Chain,
    request: &TransactionRequest,
    block: Option<BlockId>,
    purpose: Purpose,
    overrides: Option<&StateOverride>,
) -> Result<(PreparedCall, CallDb<'a>)> {
    let number = chain.resolve(block)?;
    let pending = matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending)));
    let latest = matches!(block, None | Some(BlockId::Number(BlockNumberOrTag::Latest)));
    let next_block = pending || (latest && purpose == Purpose::Estimate);
    if !next_block {
        let prepared = prepare(chain, request, number)?;
        return Ok((prepared, overridden_db(chain.state_at(number), overrides)?));
    }
    let context = chain.next_context(crate::node::unix_now());
    let env = evm_env(chain.config(), &context, chain.next_excess_blob_gas(context.timestamp));
    let prepared = prepare_in(chain, request, &context, env)?;
    let mut db = CacheDB::new(chain.state_at(number));
    if pending {
        // Lock order: the chain (held by the caller), then the pool.
        let candidates = node.pool.lock().best(|a| chain.latest_nonce(a), context.base_fee);
        if !candidates.is_empty() {
            let parent = chain.state_at(number);
            let excess = chain.next_excess_blob_gas(context.timestamp);
            db.commit(execute_block(parent, chain.config(), &context, excess, candidates).changes);
        }
    }
    Ok((prepared, apply_overrides(db, overrides)?))
}

/// A call prepared in block `number`'s context, on its post-state.
pub(crate) fn prepare(
    chain: &Chain,
    request: &TransactionRequest,
    number: u64,
) -> Result<PreparedCall> {
    let header = &chain
        .block(number)
        .ok_or_else(|| EvmError::BlockNotFound(format!("block {number} not found")))?
        .header;
    let context = BlockContext {
        number: header.number,
        timestamp: header.timestamp,
        base_fee: header.base_fee_per_gas.unwrap_or_default(),
        gas_limit: header.gas_limit,
        coinbase: header.beneficiary,
        prevrandao: header.mix_hash,
    };
    prepare_in(chain, request, &context, header_env(chain.config(), header))
}

/// A request's calldata: `input` or `data` (refused when both are set and differ).
pub(crate) fn call_input(request: &TransactionRequest) -> Result<Bytes> {
    Ok(request
        .input
        .clone()
        .try_into_unique_input()
        .map_err(|_| {
            EvmError::InvalidParams("both \"data\" and \"input\" are set and not equal".into())
        })?
        .unwrap_or_default())
}

/// A call prepared in the given block context.
pub(crate) fn prepare_in(
    chain: &Chain,
    request: &TransactionRequest,
    context: &BlockContext,
    (mut cfg, mut block): (CfgEnv, BlockEnv),
) -> Result<PreparedCall> {
    cfg.disable_nonce_check = true;
    let cap = gas_cap(chain, context.gas_limit);
    let gas_limit = request.gas.unwrap_or(cap).min(cap);
    let gas_price = request.gas_price.or(request.max_fee_per_gas).unwrap_or_default();
    if gas_price == 0 {
        // As geth: a call that pays nothing runs without base fee, and BASEFEE reads 0.
        cfg.disable_base_fee = true;
        block.basefee = 0;
    }
    let input = call_input(request)?;
    let tx_type = if request.authorization_list.is_some() {
        4
    } else if request.max_fee_per_gas.is_some() || request.max_priority_fee_per_gas.is_some() {
        2
    } else if request.access_list.is_some() {
        1
    } else {
        0
    };
    let tx = TxEnv {
        tx_type,
        caller: request.from.unwrap_or_default(),
        gas_limit,
        gas_price,
        kind: request.to.unwrap_or(TxKind::Create),
        value: request.value.unwrap_or_default(),
        data: input,
        nonce: 0,
        chain_id: Some(chain.config().chain_id),
        access_list: request.access_list.clone().unwrap_or_default(),
        gas_priority_fee: if tx_type >= 2 {
            Some(request.max_priority_fee_per_gas.unwrap_or_default().min(gas_price))
        } else {
            None
        },
        blob_hashes: Vec::new(),
        max_fee_per_blob_gas: 0,
        authorization_list: request
            .authorization_list
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(Either::Left)
            .collect(),
    };
    Ok(PreparedCall { cfg, block, tx, gas_cap: gas_limit })
}

/// A state with `overrides` (balance, nonce, code, storage of accounts) over `state`.
pub(crate) fn overridden_db<'a>(
    state: StateAt<'a>,
    overrides: Option<&StateOverride>,
) -> Result<CallDb<'a>> {
    apply_overrides(CacheDB::new(state), overrides)
}

fn apply_overrides<'a>(
    mut db: CallDb<'a>,
    overrides: Option<&StateOverride>,
) -> Result<CallDb<'a>> {
    let Some(overrides) = overrides else { return Ok(db) };
    for (address, account) in overrides {
        apply_account_override(&mut db, *address, account)?;
    }
    Ok(db)
}

/// Applies one account's override (balance, nonce, code, whole storage or some slots).
pub(crate) fn apply_account_override(
    db: &mut CallDb<'_>,
    address: Address,
    account: &AccountOverride,
) -> Result<()> {
    let read_failed = |e: StateReadError| EvmError::Internal(e.to_string());
    if account.state.is_some() && account.state_diff.is_some() {
        return Err(EvmError::InvalidParams(format!(
            "account {address} has both 'state' and 'stateDiff'"
        )));
    }
    let mut info = db.basic_ref(address).map_err(read_failed)?.unwrap_or_default();
    if let Some(balance) = account.balance {
        info.balance = balance;
    }
    if let Some(nonce) = account.nonce {
        info.nonce = nonce;
    }
    if let Some(code) = &account.code {
        info.code_hash = keccak256(code);
        info.code = Some(Bytecode::new_raw(code.clone()));
    }
    db.insert_account_info(address, info);
    if let Some(state) = &account.state {
        let slots = state.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        db.replace_account_storage(address, slots).map_err(read_failed)?;
    }
    if let Some(diff) = &account.state_diff {
        for (slot, value) in diff {
            db.insert_account_storage(address, (*slot).into(), (*value).into())
                .map_err(read_failed)?;
        }
    }
    Ok(())
}

fn transact(
    db: CallDb<'_>,
    prepared: &PreparedCall,
    tx: TxEnv,
) -> Result<ExecutionResult<HaltReason>> {
    let mut evm = build_evm(db, prepared.cfg.clone(), prepared.block.clone(), ());
    evm.transact_one(tx).map_err(evm_error)
}

/// Whether the call succeeds with `gas` (errors that more gas would not fix are returned).
fn succeeds_with(db: &CallDb<'_>, prepared: &PreparedCall, gas: u64) -> Result<bool> {
    let mut tx = prepared.tx.clone();
    tx.gas_limit = gas;
    let mut evm = build_evm(db.clone(), prepared.cfg.clone(), prepared.block.clone(), ());
    match evm.transact_one(tx) {
        Ok(result) => Ok(result.is_success()),
        Err(EVMError::Transaction(
            InvalidTransaction::CallGasCostMoreThanGasLimit { .. }
            | InvalidTransaction::GasFloorMoreThanGasLimit { .. },
        )) => Ok(false),
        Err(error) => Err(evm_error(error)),
    }
}

fn estimate(db: &CallDb<'_>, prepared: &PreparedCall) -> Result<u64> {
    let cap = prepared.gas_cap;
    let result = transact(db.clone(), prepared, prepared.tx.clone())?;
    let used = match result {
        ExecutionResult::Success { .. } => result.tx_gas_used(),
        ExecutionResult::Revert { .. } => return execution_output(result).map(|_| 0),
        ExecutionResult::Halt { reason: HaltReason::OutOfGas(_), .. } => {
            return Err(EvmError::Halted(format!("gas required exceeds allowance ({cap})")));
        }
        ExecutionResult::Halt { reason, .. } => {
            return Err(EvmError::Halted(halt_message(&reason)));
        }
    };
    if let TxKind::Call(to) = prepared.tx.kind
        && prepared.tx.data.is_empty()
        && prepared.tx.authorization_list.is_empty()
        && prepared.tx.access_list.is_empty()
        && is_plain_account(db, to)?
    {
        return Ok(TRANSFER_GAS);
    }
    // Binary search between the gas used (which may be too little because of refunds and the
    // 63/64 rule) and the cap, starting with an optimistic guess close to the usage.
    let mut low = used.saturating_sub(1);
    let mut high = cap;
    let optimistic = used.saturating_mul(64) / 63 + 2_300;
    if optimistic < high {
        if succeeds_with(db, prepared, optimistic)? {
            high = optimistic;
        } else {
            low = optimistic;
        }
    }
    while low + 1 < high {
        let mid = low + (high - low) / 2;
        if succeeds_with(db, prepared, mid)? {
            high = mid;
        } else {
            low = mid;
        }
    }
    Ok(high)
}

fn is_plain_account(db: &CallDb<'_>, address: Address) -> Result<bool> {
    let info = db.basic_ref(address).map_err(|e| EvmError::Internal(e.to_string()))?;
    Ok(info.is_none_or(|info| info.code.as_ref().is_none_or(|c| c.is_empty())))
}
