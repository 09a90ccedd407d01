{
  "targets": [
    {
      "target_name": "llmforge_native",
      "sources": ["native/addon.cc", "native/isa_avx512.cc", "native/isa_avx512vnni.cc", "native/isa_avx512bf16.cc", "native/isa_amx.cc", "native/isa_avx2.cc", "native/isa_scalar.cc", "native/team.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fno-math-errno", "-march=x86-64-v2", "-Wno-maybe-uninitialized"],
      "ldflags": ["-fopenmp"]
    },
    {
      "target_name": "llmforge_text",
      "sources": ["native/text.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-march=x86-64-v2"]
    }
  ]
}
