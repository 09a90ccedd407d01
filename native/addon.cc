// llmforge native backend: N-API entry point. Kernels live in native/*.h.
#include <napi.h>
#include <omp.h>

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", Napi::Number::New(env, omp_get_max_threads()));
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

NODE_API_MODULE(llmforge_native, Init)
