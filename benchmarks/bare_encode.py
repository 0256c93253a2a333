"""The bare side of the whole-process tokenizer benchmarks: a process that loads the tokenizer, reads the texts
from a Parquet file and makes the pipeline's exact call, `encode_batch_fast(batch, add_special_tokens=False)` in
batches of 1,024, then counts tokens (`len(e)`, as ingest does) or takes each document's `ids` (as materialize
does). It imports only pyarrow and tokenizers, so the start-up it pays is the least such a script needs.
Run: python benchmarks/bare_encode.py TOKENIZER_JSON TEXTS_PARQUET BATCH [--ids]  (common.bare_encode_cmd builds it)
"""

import sys

import pyarrow.parquet as pq
from tokenizers import Tokenizer


def main(tokenizer_json: str, parquet: str, batch: int, ids: bool) -> None:
    tok = Tokenizer.from_file(tokenizer_json)
    texts = pq.read_table(parquet, columns=["text"])["text"].to_pylist()
    tokens = 0
    for i in range(0, len(texts), batch):
        encodings = tok.encode_batch_fast(texts[i:i + batch], add_special_tokens=False)
        tokens += sum(len(e.ids) for e in encodings) if ids else sum(len(e) for e in encodings)
        del encodings  # freed before the next batch, as the pipeline does
    print(tokens)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), "--ids" in sys.argv[4:])
