"""Hugging Face datasets reader, from a hub id or a local directory."""

from datatrove.pipeline.readers import HuggingFaceDatasetReader

from toxmix.mixer.corpus.readers.base import KeepEveryRecord


class StoreHuggingFaceReader(KeepEveryRecord, HuggingFaceDatasetReader):
    """datatrove's HuggingFaceDatasetReader, keeping rows without text as rejects."""

    name = "🤗 HuggingFace (toxmix)"

    def get_document_from_dict(self, data, source_file, id_in_file):
        row = int(str(id_in_file).rsplit("/", 1)[-1])
        return KeepEveryRecord.get_document_from_dict(self, data, source_file, row)
