"""The wire codec, sans-I/O: encode, decode, split frames, bad lengths."""
from __future__ import annotations


import pytest
from hypothesis import given, settings, strategies as st

from uipc import protocol as P
from uipc.uapi import IpcPerm, MsgInfo, MsqidDs, SemidDs, ShmidDs

PERM = IpcPerm(key=-5, uid=1000, gid=100, cuid=0, cgid=0, mode=0o1640, seq=7)


def test_generated_views_agree_with_the_core_table() -> None:
    """uipc/protocol/table.py, docs/protocol.md and uipc_proto.h are what the
    @syscall declarations in the core say (python -m uipc.protocol.gen)."""
    from uipc.protocol import gen
    for path, text in gen.outputs().items():
        assert path.read_text() == text, f"{path} is stale: run python -m uipc.protocol.gen"


def test_every_core_syscall_is_an_op_with_its_layout() -> None:
    from uipc.kernel.entry import TABLE
    from uipc.kernel import syscalls  # noqa: F401
    syscall_ops = {op.code: op for op in P.OPS if not op.control}
    assert set(syscall_ops) == set(TABLE)
    for nr, spec in TABLE.items():
        op = syscall_ops[nr]
        assert (op.name, op.args, op.result, op.fds) == (spec.name, spec.fixed_format,
                                                         spec.result, spec.fds)
        assert op.params == tuple((a.name, a.type) for a in spec.args)


def test_op_codes_and_names_are_unique() -> None:
    assert len({op.code for op in P.OPS}) == len(P.OPS)
    assert len({op.name for op in P.OPS}) == len(P.OPS)


@pytest.mark.parametrize("obj", [
    MsqidDs(msg_perm=PERM, msg_stime=1, msg_rtime=2, msg_ctime=3, msg_cbytes=4, msg_qnum=5,
            msg_qbytes=6, msg_lspid=7, msg_lrpid=8),
    MsgInfo(msgpool=1, msgmap=2, msgmax=3, msgmnb=4, msgmni=5, msgssz=6, msgtql=7, msgseg=8),
    SemidDs(sem_perm=PERM, sem_otime=0, sem_ctime=9, sem_nsems=3),
    ShmidDs(shm_perm=PERM, shm_segsz=1 << 40, shm_atime=1, shm_dtime=2, shm_ctime=3,
            shm_cpid=4, shm_lpid=5, shm_nattch=6),
])
def test_struct_round_trip(obj: object) -> None:
    assert P.unpack_struct(type(obj), P.pack_struct(obj)) == obj
    assert P.unpack_ctl_result(P.pack_ctl_result((42, obj))) == (42, obj)


def test_ctl_int_and_list() -> None:
    assert P.unpack_ctl_result(P.pack_ctl_result(-3)) == -3
    assert P.unpack_ctl_result(P.pack_ctl_result([1, 2, 32767])) == [1, 2, 32767]


def test_wrong_struct_size_is_a_protocol_error() -> None:
    with pytest.raises(P.ProtocolError):
        P.unpack_struct(MsqidDs, b"\x00" * 10)


@given(st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(-2**63, 2**63 - 1),
                          st.binary(max_size=300)), min_size=1, max_size=20),
       st.integers(1, 64))
def test_frames_survive_any_split(reqs: list[tuple[int, int, bytes]], chunk: int) -> None:
    op = P.OPS_BY_NAME["msgsnd"]
    stream = b"".join(P.encode_request(op, i, (q, t, 0), text) for i, (q, t, text) in enumerate(reqs))
    dec = P.FrameDecoder()
    out = []
    for pos in range(0, len(stream), chunk):
        dec.feed(stream[pos:pos + chunk])
        while (f := dec.next_frame()) is not P.NEED_DATA:
            out.append(f)
    assert [(rid, code) for rid, code, _ in out] == [(i, op.code) for i in range(len(reqs))]
    for (_, _, payload), (q, t, text) in zip(out, reqs):
        assert op.struct.unpack_from(payload) == (q, t, 0)
        assert payload[op.struct.size:] == text


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([0, 10, 70_000, 300_000, 5_000_000]), min_size=1, max_size=6),
       st.lists(st.integers(1, 400_000), min_size=1, max_size=8))
def test_big_frames_survive_any_split(sizes: list[int], chunks: list[int]) -> None:
    """Frames bigger than the decoder's buffer grow it; once emptied it
    gives back what it took beyond a few MiB."""
    op = P.OPS_BY_NAME["msgsnd"]
    texts = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    stream = b"".join(P.encode_request(op, i, (1, 2, 0), t) for i, t in enumerate(texts))
    dec = P.FrameDecoder()
    out, pos, k = [], 0, 0
    while pos < len(stream):
        step = chunks[k % len(chunks)]
        dec.feed(memoryview(stream)[pos:pos + step])
        pos, k = pos + step, k + 1
        while (f := dec.next_frame()) is not P.NEED_DATA:
            out.append(f)
    assert [payload[op.struct.size:] for _, _, payload in out] == texts
    assert dec.buffered == 0 and len(dec._buf) <= P._DECODER_KEEP


def test_length_limits() -> None:
    dec = P.FrameDecoder()
    dec.feed(b"\xf0\xff\xff\xff")
    with pytest.raises(P.ProtocolError):
        dec.next_frame()
    dec = P.FrameDecoder()
    dec.feed(b"\x01\x00\x00\x00\x00")
    with pytest.raises(P.ProtocolError):
        dec.next_frame()


def test_reply_codec() -> None:
    dec = P.FrameDecoder(reply=True)
    dec.feed(P.encode_error(9, 22, "msgsz 9000 exceeds kernel.msgmax (8192)") + P.encode_reply(10, b"ok"))
    assert dec.next_frame() == (9, 22, b"msgsz 9000 exceeds kernel.msgmax (8192)")
    assert dec.next_frame() == (10, 0, b"ok")
    assert dec.next_frame() is P.NEED_DATA


def test_unsigned_long_fields_travel_whole() -> None:
    from uipc.uapi import ShmInfo
    info = ShmInfo(shmmax=2**64 - 2**24 - 1, shmmin=1, shmmni=4096, shmseg=4096, shmall=2**64 - 2**24 - 1)
    assert P.unpack_ctl_result(P.pack_ctl_result((0, info))) == (0, info)
