//! Chain import on the execution-apis fixtures' chain (54 blocks from Frontier to BPO2): every
//! block checked against its header, a tampered block refused by name with nothing left behind,
//! a restart importing nothing again and replaying the recorded blocks to the same head.

use std::{path::PathBuf, sync::Arc};

use alloy_consensus::Block;
use alloy_primitives::{B256, Bytes};
use alloy_rlp::Encodable;
use ir3_foundation::{DEFAULT_OUTBOX_CAPACITY, MemorySeries, Outbox, SeriesHandle};

use crate::{
    DevAccounts, EvmError, EvmNode, NodeOptions,
    config::DEFAULT_MNEMONIC,
    genesis,
    import::{decode_block, read_chain_file},
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/rpc-compat/tests")
}

fn open(series: &SeriesHandle) -> Arc<EvmNode> {
    let chain = genesis::read_genesis_file(&fixtures().join("genesis.json")).unwrap();
    let options = NodeOptions {
        chain,
        accounts: DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 1).unwrap(),
        mining: Some(crate::MiningMode::Manual),
        network: None,
        state_store: None,
    };
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_| {});
    tokio::task::block_in_place(|| EvmNode::open(options, series.clone(), outbox)).unwrap()
}

/// Block `raw` with its header's state root replaced.
fn with_state_root(raw: &[u8], root: B256) -> Bytes {
    let mut block: Block<alloy_consensus::TxEnvelope> = decode_block(raw).unwrap();
    block.header.state_root = root;
    let mut out = Vec::new();
    block.encode(&mut out);
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_chain_imports_checked_and_a_tampered_block_is_refused() {
    let blocks = read_chain_file(&fixtures().join("chain.rlp")).unwrap();
    assert_eq!(blocks.len(), 54);
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let node = open(&series);
    let first = tokio::task::block_in_place(|| node.import_blocks(&blocks[..20])).unwrap();
    assert_eq!((first.imported, first.head), (20, 20));
    let before = node.with_chain(|c| c.head().hash);

    let tampered = with_state_root(&blocks[20], B256::repeat_byte(7));
    let refused = tokio::task::block_in_place(|| node.import_blocks(&[tampered])).unwrap_err();
    match &refused {
        EvmError::BlockRejected { number, reason } => {
            assert_eq!(*number, 21);
            assert!(reason.contains("state root"), "{reason}");
        }
        other => panic!("expected the block to be rejected, got {other}"),
    }
    assert_eq!(node.with_chain(|c| c.head().hash), before);
    // Nothing of the refused block is left in the state: the genuine blocks that follow
    // import with their headers' state roots.

    let rest = tokio::task::block_in_place(|| node.import_blocks(&blocks)).unwrap();
    assert_eq!((rest.already_held, rest.imported, rest.head), (20, 34, 54));
    let head = node.with_chain(|c| c.head().hash);
    assert_eq!(head, decode_block(&blocks[53]).unwrap().header.hash_slow());
    drop(node);

    // A restart replays the recorded blocks (checked again) and imports nothing twice.
    let again = open(&series);
    assert_eq!(again.with_chain(|c| c.head().hash), head);
    let replayed = tokio::task::block_in_place(|| again.import_blocks(&blocks)).unwrap();
    assert_eq!((replayed.already_held, replayed.imported), (54, 0));
}
