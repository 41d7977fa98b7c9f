"""The one module that names dims, tensor roles, levels, axes and actions.

Every other module takes these names (and the positional layouts derived from them) from here;
no module spells one of these strings itself. Invariants:

- ``CONV_DIMS`` is the loop-dimension order of the conv built-in (Timeloop's letters) and of the
  fixed-shape core's arrays (``workloads.layer.DIMS`` is this tuple).
- ``ROLES`` is the tensor-role order (``accelsim.energy.TENSORS`` is this tuple): a MAC reads one
  word of each operand role and read-modify-writes one word of the output role. Every problem binds
  each of its tensors to exactly one role; architecture levels keep tensors by role.
- Storage actions and network actions are disjoint sets of names; an action table key is
  ``(level, role, action)`` for storage, ``(network, role, action)`` for networks.
"""

from __future__ import annotations

# ---- loop dimensions of the conv built-in ------------------------------------------------
CONV_DIMS: tuple[str, ...] = ("N", "G", "K", "C", "P", "Q", "R", "S")

# ---- tensor roles --------------------------------------------------------------------------
IFMAP = "ifmap"      # first MAC operand (a conv's input feature map; a bmm's left operand)
WEIGHT = "weight"    # second MAC operand (a conv's filters; a bmm's right operand)
PSUM = "psum"        # the output: partial sums, read-modify-written
ROLES: tuple[str, ...] = (IFMAP, WEIGHT, PSUM)
OPERAND_ROLES: tuple[str, ...] = (IFMAP, WEIGHT)
OUTPUT_ROLE = PSUM

# ---- level names of the fixed shape (DRAM -> GLB -> rows x cols -> RF -> registers -> MAC) -----
DRAM = "dram"
GLB = "glb"
RF = "rf"
REG = "reg"          # one-word operand registers / psum accumulator
MAC = "mac"          # the compute level
FIXED_LEVELS: tuple[str, ...] = (DRAM, GLB, RF, REG)

# ---- spatial axes of a fanout ------------------------------------------------------------
X = "x"              # outer spatial axis (the fixed shape's PE rows)
Y = "y"              # inner spatial axis (the fixed shape's PE columns)
AXES: tuple[str, ...] = (X, Y)

# ---- storage actions (words) ---------------------------------------------------------------
READ = "read"        # read to serve the level below (operand feeds; partial sums sent down to resume)
FILL = "fill"        # written from the level above
UPDATE = "update"    # written from the level below (partial sums coming back; MAC results)
DRAIN = "drain"      # read to send a partial sum to the level above
STORAGE_ACTIONS: tuple[str, ...] = (READ, FILL, UPDATE, DRAIN)

# ---- network actions (words) on the network of one fanout ------------------------------------
DOWN = "down"            # distinct words sent down (a multicast counted once: the bandwidth view)
DOWN_DEST = "down_dest"  # words received summed over destinations (the energy view)
UP = "up"                # words arriving at the parent after spatial reduction
UP_SRC = "up_src"        # words sent up summed over sources
NETWORK_ACTIONS: tuple[str, ...] = (DOWN, DOWN_DEST, UP, UP_SRC)

# ---- compute -------------------------------------------------------------------------------
COMPUTE = "compute"      # one multiply-accumulate

# ---- components of an energy table (accelsim.energy_table) ----------------------------------
NET_SUFFIX = ".net"      # the network of the fanout below level L is the component "L.net"
STORAGE, NETWORK, COMPUTE_UNIT = "storage", "network", "compute"   # component kinds
VECTOR_UNIT = "vector"   # the non-MAC unit: one action per op kind of accelsim.vector_ops.OPS
ANY_ROLE = "*"           # an energy-table entry for every tensor role (compute entries have no role)
# ---- sparse action kinds (accelsim.sparse): each dense action's words split into these ---------------
DATA = "data"            # data words that are actually moved / stored (compressed, not gated or skipped)
METADATA = "metadata"    # metadata words (format bits in data-word equivalents)
GATED = "gated"          # an access or MAC that happens as a cheap no-op (costs its own, lower energy)
SKIPPED = "skipped"      # an access or MAC that does not happen (no energy, no cycle)
SPARSE_KINDS: tuple[str, ...] = (DATA, METADATA, GATED, SKIPPED)


def sparse_action(kind: str, action: str) -> str:
    """The priced action of a sparse kind of a dense action: ``gated_read``, ``metadata_down``,
    ``gated_compute`` (data words keep the dense action's own name; skipped ones are not priced)."""
    return f"{kind}_{action}"


# Actions the sparse model adds (accelsim.sparse.model.priced_actions): gated and metadata variants
# of every dense action, each an entry of its own in an energy table; the dense counting never emits them.
EXTRA_STORAGE_ACTIONS: tuple[str, ...] = tuple(sparse_action(k, a) for k in (GATED, METADATA) for a in STORAGE_ACTIONS)
EXTRA_NETWORK_ACTIONS: tuple[str, ...] = tuple(sparse_action(k, a) for k in (GATED, METADATA) for a in NETWORK_ACTIONS)
EXTRA_COMPUTE_ACTIONS: tuple[str, ...] = (sparse_action(GATED, COMPUTE),)

# A layer's mapping_source when a --sparse run cut its named mapping's tiles to fit by compressed size
# (accelsim.mapper.sparse_fit); the other sources are "named", "hand-written" and "searched".
FIT_SOURCE = "named, fit by compressed size"
