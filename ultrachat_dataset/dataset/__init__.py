"""The output folder: parquet shards and splits (`write`), a folder built aside and swapped in
(`folder`), its dataset card (`card`), and uploading it (`push`)."""
