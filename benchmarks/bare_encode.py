"""The bare side of the whole-process tokenizer benchmarks: a process that loads the tokenizer, reads the texts
from a Parquet file and makes the pipeline's exact call, `encode_batch_fast(batch, add_special_tokens=False)` in
batches of 1,024, then counts tokens (`len(e)`, as ingest does) or takes each document's `ids` (as materialize
does). It imports only pyarrow and tokenizers, so the start-up it pays is the least such a script needs. With
`--write OUT --eos N` it also writes what materialize writes, every document's ids and an EOS after each as one
uint16 array, the bare side of materialize's peak memory (numpy then loads too).
Run: python benchmarks/bare_encode.py TOKENIZER_JSON TEXTS_PARQUET BATCH [--ids] [--write OUT --eos N]
(common.bare_encode_cmd builds it)
"""

import sys

import pyarrow.parquet as pq
from tokenizers import Tokenizer


def main(tokenizer_json: str, parquet: str, batch: int, ids: bool, write: str | None = None, eos: int = 0) -> None:
    tok = Tokenizer.from_file(tokenizer_json)
    texts = pq.read_table(parquet, columns=["text"])["text"].to_pylist()
    tokens, parts = 0, []
    for i in range(0, len(texts), batch):
        encodings = tok.encode_batch_fast(texts[i:i + batch], add_special_tokens=False)
        tokens += sum(len(e.ids) for e in encodings) if ids else sum(len(e) for e in encodings)
        if write:
            parts.append(_with_eos([e.ids for e in encodings], eos))
        del encodings  # freed before the next batch, as the pipeline does
    if write:
        import numpy as np

        with open(write, "wb") as f:
            f.write(np.concatenate(parts).data)
    print(tokens)


def _with_eos(id_lists: list[list[int]], eos: int):
    import numpy as np

    out = np.empty(sum(len(ids) + 1 for ids in id_lists), dtype=np.uint16)
    start = 0
    for ids in id_lists:
        out[start:start + len(ids)] = ids
        out[start + len(ids)] = eos
        start += len(ids) + 1
    return out


if __name__ == "__main__":
    flags = sys.argv[4:]
    out = flags[flags.index("--write") + 1] if "--write" in flags else None
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), "--ids" in flags, out,
         int(flags[flags.index("--eos") + 1]) if "--eos" in flags else 0)
