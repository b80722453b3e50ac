"""SGLang-style token-level radix cache with LRU eviction.

Every token slot is either free, held privately by a running request, or in the tree. Tree
nodes used by running requests are locked; unlocked tokens are evictable, least recently
used leaves first, and count as free in `usage()` (SGLang's `token_usage`). A finished
request's tokens are inserted into the tree (SGLang's cache_finished_req), so the next
request sharing the prefix finds them. Lookups never cover the prompt's last token.
With events on, every token that enters the tree is announced as SGLang does with its default
page size of 1 (a BlockStored per token, chained SHA-256 hashes) and every evicted one as a
BlockRemoved (see kv_events.py).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from .kv_events import MEDIUM_GPU, AllBlocksCleared, BlockRemoved, BlockStored, sglang_event_hash, sglang_page_digest
from .request import SimRequest


@dataclass(eq=False)
class _Node:
    key: list[int]
    parent: "_Node | None"
    children: dict[int, "_Node"] = field(default_factory=dict)
    lock_ref: int = 0
    last_access: int = 0
    digests: list[bytes] = field(default_factory=list)  # per token, when events are on


@dataclass
class _ReqSlots:
    node: _Node | None = None  # deepest matched node (locked while the request holds it)
    matched: int = 0
    private: int = 0  # token slots allocated outside the tree
    locked: bool = False


class RadixCache:
    block_size = 1

    def __init__(self, capacity_tokens: int, emit_events: bool = False) -> None:
        self.capacity_tokens = capacity_tokens
        self.root = _Node(key=[], parent=None, lock_ref=1)
        self.tree_tokens = 0
        self.evictable = 0  # tree tokens in unlocked nodes
        self.private = 0
        self._clock = itertools.count(1)
        self._emit = emit_events
        self.events: list = []

    # -- queries ---------------------------------------------------------------------------
    def usage(self) -> float:
        return (self.tree_tokens + self.private - self.evictable) / self.capacity_tokens

    def _free(self) -> int:
        return self.capacity_tokens - self.tree_tokens - self.private

    # -- tree primitives -------------------------------------------------------------------
    def _split(self, node: _Node, at: int) -> _Node:
        """Cut `node`'s edge after `at` tokens; return the new upper node."""
        assert node.parent is not None
        upper = _Node(key=node.key[:at], parent=node.parent, lock_ref=node.lock_ref,
                      last_access=node.last_access)
        node.parent.children[upper.key[0]] = upper
        node.key = node.key[at:]
        upper.digests, node.digests = node.digests[:at], node.digests[at:]
        node.parent = upper
        upper.children[node.key[0]] = node
        return upper

    def _match(self, tokens: list[int]) -> tuple[_Node, int]:
        node, n, now = self.root, 0, next(self._clock)
        node.last_access = now
        while n < len(tokens):
            child = node.children.get(tokens[n])
            if child is None:
                break
            k = child.key
            m = 0
            limit = min(len(k), len(tokens) - n)
            while m < limit and k[m] == tokens[n + m]:
                m += 1
            if m < len(k):
                child = self._split(child, m)
            child.last_access = now
            node, n = child, n + m
            if m < len(k):
                break
        return node, n

    def _lock(self, node: _Node) -> None:
        while node is not self.root and node is not None:
            if node.lock_ref == 0:
                self.evictable -= len(node.key)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def _unlock(self, node: _Node) -> None:
        while node is not self.root and node is not None:
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self.evictable += len(node.key)
            node = node.parent  # type: ignore[assignment]

    def _insert(self, tokens: list[int]) -> tuple[_Node, int]:
        """Insert `tokens`; return the node that ends them and how many were new to the tree."""
        node, n = self._match(tokens)
        rest = tokens[n:]
        if not rest:
            return node, 0
        leaf = _Node(key=list(rest), parent=node, last_access=next(self._clock))
        node.children[rest[0]] = leaf
        self.tree_tokens += len(rest)
        self.evictable += len(rest)
        if self._emit:
            self._stored(leaf)
        return leaf, len(rest)

    def _stored(self, leaf: _Node) -> None:
        parent = leaf.parent
        prior = parent.digests[-1] if parent is not None and parent.digests else None
        parent_hash = sglang_event_hash(prior) if prior else None
        for token in leaf.key:
            prior = sglang_page_digest(prior, (token,))
            leaf.digests.append(prior)
            h = sglang_event_hash(prior)
            self.events.append(BlockStored([h], parent_hash, [token], 1, None, MEDIUM_GPU))
            parent_hash = h

    def _evict(self, num_tokens: int) -> int:
        leaves = []
        stack = [self.root]
        while stack:  # bounded by the number of nodes
            nd = stack.pop()
            if nd.children:
                stack.extend(nd.children.values())
            elif nd is not self.root and nd.lock_ref == 0:
                leaves.append((nd.last_access, id(nd), nd))
        heapq.heapify(leaves)
        evicted = 0
        while leaves and evicted < num_tokens:
            _, _, nd = heapq.heappop(leaves)
            parent = nd.parent
            assert parent is not None
            del parent.children[nd.key[0]]
            if self._emit:
                self.events.extend(BlockRemoved([sglang_event_hash(d)]) for d in nd.digests)
            self.tree_tokens -= len(nd.key)
            self.evictable -= len(nd.key)
            evicted += len(nd.key)
            if parent is not self.root and not parent.children and parent.lock_ref == 0:
                heapq.heappush(leaves, (parent.last_access, id(parent), parent))
        return evicted

    def _reserve(self, n: int) -> bool:
        short = n - self._free()
        if short > 0:
            if short > self.evictable:
                return False
            self._evict(short)
            if self._free() < n:
                return False
        self.private += n
        return True

    # -- engine interface ------------------------------------------------------------------
    def lookup(self, req: SimRequest) -> int:
        node, n = self._match(req.tokens(0, req.num_tokens - 1))
        req.kv = _ReqSlots(node=node, matched=n)
        return n

    def admit(self, req: SimRequest, num_new_tokens: int) -> bool:
        st: _ReqSlots = req.kv
        assert st.node is not None
        self._lock(st.node)  # before reserving, so eviction cannot take our own prefix
        if not self._reserve(num_new_tokens):
            self._unlock(st.node)
            return False
        st.locked = True
        st.private = num_new_tokens
        return True

    def allocate(self, req: SimRequest, num_new_tokens: int) -> bool:
        if not self._reserve(num_new_tokens):
            return False
        req.kv.private += num_new_tokens
        return True

    def on_scheduled(self, req: SimRequest, num_tokens: int) -> None:
        """SGLang puts tokens in the tree only once computed (`on_computed`), not when scheduled."""

    def on_computed(self, req: SimRequest) -> None:
        """While the prompt is being computed, move its computed tokens into the tree at once
        (SGLang's cache_unfinished_req after each prefill chunk), so concurrent requests with
        the same prefix share them before this one finishes. Decode tokens wait for the end."""
        st: _ReqSlots = req.kv
        if st is None or not st.locked or req.num_computed_tokens > len(req.prompt_token_ids):
            return
        done = req.num_computed_tokens
        if done <= st.matched:
            return
        node, _ = self._insert(req.tokens(0, done))
        # Slots of the newly inserted tokens now belong to the tree (duplicates are dropped).
        self.private -= done - st.matched
        st.private -= done - st.matched
        self._lock(node)
        self._unlock(st.node)  # type: ignore[arg-type]
        st.node, st.matched = node, done

    def free(self, req: SimRequest, cache: bool = True) -> None:
        """Release a request's slots; when it finished, keep its tokens in the tree."""
        st: _ReqSlots | None = req.kv
        if st is None or not st.locked:
            return
        if cache and req.finish_reason is not None:
            self._insert(req.tokens(0, req.num_computed_tokens))
        self.private -= st.private
        self._unlock(st.node)  # type: ignore[arg-type]
        req.kv = _ReqSlots()

    def reset(self) -> bool:
        if self.tree_tokens != self.evictable:
            return False
        self.root = _Node(key=[], parent=None, lock_ref=1)
        self.tree_tokens = self.evictable = 0
        if self._emit:
            self.events.append(AllBlocksCleared())
        return True

    def take_events(self) -> list:
        events, self.events = self.events, []
        return events
