"""Where the data comes from: the release's files and hosts (`sources`), fetching them verified
(`download`, over `transfer`), what a file is (`file_shape`), reading it line by line without
losing one (`read`), and synthetic releases for tests and benchmarks (`synth`)."""
