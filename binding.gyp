{
  "targets": [
    {
      "target_name": "ldm_native",
      "sources": [
        "native/binding.cc",
        "native/elementwise.cc",
        "native/reduce.cc",
        "native/matmul.cc",
        "native/conv2d.cc",
        "native/norm.cc",
        "native/attention.cc",
        "native/resample.cc",
        "native/copy.cc",
        "native/geglu.cc",
        "native/optim.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/eigen3"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "EIGEN_DONT_PARALLELIZE", "EIGEN_NO_DEBUG"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-fexceptions", "-ffp-contract=fast"],
      "ldflags": ["-fopenmp"]
    }
  ]
}
