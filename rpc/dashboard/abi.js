// Known signatures: 4-byte function selectors, event topics and error selectors, with a small
// decoder for their static arguments (address, uintN, intN, bool, bytes32) and strings.

const FUNCTIONS = {
  '0xa9059cbb': 'transfer(address to, uint256 value)',
  '0x095ea7b3': 'approve(address spender, uint256 value)',
  '0x23b872dd': 'transferFrom(address from, address to, uint256 value)',
  '0x70a08231': 'balanceOf(address owner)',
  '0x18160ddd': 'totalSupply()',
  '0xdd62ed3e': 'allowance(address owner, address spender)',
  '0xd0e30db0': 'deposit()',
  '0x2e1a7d4d': 'withdraw(uint256 amount)',
  '0x40c10f19': 'mint(address to, uint256 amount)',
  '0x42966c68': 'burn(uint256 amount)',
  '0xac9650d8': 'multicall(bytes[] data)',
  '0xd09de08a': 'increment()',
  '0x3fb5c1cb': 'setNumber(uint256 newNumber)',
  '0x8381f58a': 'number()',
  '0x78122f3a': 'fail(string reason)',
  '0x01f5b92d': 'requireBig(uint256 x)',
  '0x8b724660': 'needGas(uint256 minGas)',
  '0x7c92e12e': 'hungry()',
  '0xd264e05e': 'forward()',
  '0xceee2e20': 'callee()',
  '0x590e1ae3': 'refund()',
  '0xc41b0e3f': 'setScratch(uint256 v)',
};

const EVENTS = {
  '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef':
    'Transfer(address indexed from, address indexed to, uint256 value)',
  '0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925':
    'Approval(address indexed owner, address indexed spender, uint256 value)',
  '0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31':
    'ApprovalForAll(address indexed owner, address indexed operator, bool approved)',
  '0x8be0079c531659141344cd1fd0a4f28419497f9722a3daafe3b4186f6b6457e0':
    'OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  '0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c': 'Deposit(address indexed dst, uint256 wad)',
  '0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65': 'Withdrawal(address indexed src, uint256 wad)',
  '0x88bd9d9f2d1fe8c70d3a880258c1021e2d7828e029938e7a491e67eb3b45ba35':
    'NumberSet(uint256 indexed newNumber, address indexed by)',
};

const ERRORS = {
  '0x08c379a0': 'Error(string message)',
  '0x4e487b71': 'Panic(uint256 code)',
  '0xcf479181': 'InsufficientBalance(uint256 available, uint256 required)',
  '0x2a1b2dd8': 'InsufficientAllowance(uint256 available, uint256 required)',
  '0x9fa72982': 'NotEnoughGas(uint256 left, uint256 needed)',
};

/** Parses 'name(type a, type indexed b)' into {name, inputs: [{type, name, indexed}]}. */
function parse(signature) {
  const name = signature.slice(0, signature.indexOf('('));
  const body = signature.slice(signature.indexOf('(') + 1, -1).trim();
  const inputs = body
    ? body.split(',').map((part) => {
        const words = part.trim().split(/\s+/);
        return { type: words[0], indexed: words.includes('indexed'), name: words[words.length - 1] };
      })
    : [];
  return { name, inputs };
}

function word(hex, i) {
  return hex.slice(i * 64, (i + 1) * 64);
}

/** Decodes one 32-byte word as `type`. */
function decodeWord(type, w) {
  if (!w || w.length < 64) return '?';
  if (type === 'address') return '0x' + w.slice(24);
  if (type === 'bool') return BigInt('0x' + w) !== 0n ? 'true' : 'false';
  if (type.startsWith('uint')) return BigInt('0x' + w).toString();
  if (type.startsWith('int')) {
    const v = BigInt('0x' + w);
    return (v >= 1n << 255n ? v - (1n << 256n) : v).toString();
  }
  return '0x' + w;
}

function decodeData(inputs, hex) {
  return inputs.map((input, i) => {
    if (input.type === 'string' || input.type === 'bytes' || input.type.endsWith('[]')) {
      try {
        const offset = Number(BigInt('0x' + word(hex, i))) * 2;
        const length = Number(BigInt('0x' + hex.slice(offset, offset + 64)));
        const data = hex.slice(offset + 64, offset + 64 + length * 2);
        if (input.type !== 'string') return `0x${data}`;
        const bytes = new Uint8Array(data.match(/../g)?.map((b) => parseInt(b, 16)) || []);
        return JSON.stringify(new TextDecoder().decode(bytes));
      } catch {
        return '?';
      }
    }
    return decodeWord(input.type, word(hex, i));
  });
}

/** Decodes calldata: {signature, args: [[name, value]]} or null when the selector is unknown. */
export function decodeCall(input) {
  if (!input || input.length < 10) return null;
  const signature = FUNCTIONS[input.slice(0, 10).toLowerCase()];
  if (!signature) return null;
  const { name, inputs } = parse(signature);
  const values = decodeData(inputs, input.slice(10));
  return { name, signature, args: inputs.map((x, i) => [x.name, values[i]]) };
}

/** Decodes a log: {name, args: [[name, value]]} or null when the topic is unknown. */
export function decodeLog(log) {
  const signature = EVENTS[(log.topics?.[0] || '').toLowerCase()];
  if (!signature) return null;
  const { name, inputs } = parse(signature);
  let topic = 1;
  const data = (log.data || '0x').slice(2);
  const unindexed = inputs.filter((x) => !x.indexed);
  const values = decodeData(unindexed, data);
  const args = inputs.map((x) => {
    if (x.indexed) return [x.name, decodeWord(x.type, (log.topics[topic++] || '').slice(2))];
    return [x.name, values[unindexed.indexOf(x)]];
  });
  return { name, signature, args };
}

/** Decodes revert data: "Error(\"reason\")", a known custom error, or null. */
export function decodeError(data) {
  if (!data || data.length < 10) return null;
  const signature = ERRORS[data.slice(0, 10).toLowerCase()];
  if (!signature) return null;
  const { name, inputs } = parse(signature);
  const values = decodeData(inputs, data.slice(10));
  return `${name}(${values.join(', ')})`;
}

/** A call's method as text: a known name or the raw selector. */
export function methodName(input) {
  if (!input || input === '0x') return 'transfer';
  const decoded = decodeCall(input);
  return decoded ? decoded.name : input.slice(0, 10);
}
