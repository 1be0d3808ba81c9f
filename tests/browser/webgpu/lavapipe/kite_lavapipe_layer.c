// A Vulkan layer for tests only: lets headless Chromium's WebGPU (Dawn) run on Mesa's lavapipe
// (llvmpipe), the one Vulkan driver here whose adapter has `shader-f16`. Chromium's own fallback,
// SwiftShader, has no `shader-f16`, so without this no f16 WGSL could run on this machine.
//
// Loaded only by tests/browser/webgpu/lavapipe/lavapipe.mjs (VK_INSTANCE_LAYERS); it changes
// what lavapipe (Mesa 22.3) reports, never what it computes:
//  * shaderSampledImageArrayDynamicIndexing, shaderStorageImageArrayDynamicIndexing: Dawn requires
//    them at adapter creation; lavapipe lacks them. Kite's compute shaders bind no image arrays.
//    They are reported, and removed again from the vkCreateDevice request so the driver never
//    sees a feature it refuses.
//  * samplerYcbcrConversion: Chromium's Skia-on-Vulkan requires it (for video frames, which the
//    tests never decode); Skia must run on Vulkan for Chromium to offer Vulkan WebGPU adapters.
//    Reported and removed from vkCreateDevice the same way.
//  * vendorID/deviceID of llvmpipe devices become SwiftShader's (0x1AE0/0xC0DE): Chromium accepts
//    a CPU adapter without external-image import only if it is SwiftShader, and then copies
//    canvas contents by readback (the tests draw nothing).
// Everything else passes through. The next layer's entry points are resolved inside
// vkCreateInstance/vkCreateDevice: afterwards the loader's terminator resolves names through the
// instance's dispatch table, which by then points back at this layer.

#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct Link {
  void* key;  // the dispatch-table pointer of an instance, physical device or device
  VkInstance instance;
  PFN_vkGetInstanceProcAddr next_gipa;
  PFN_vkGetDeviceProcAddr next_gdpa;  // devices only
  PFN_vkEnumeratePhysicalDevices enumerate_physical_devices;
  PFN_vkGetPhysicalDeviceFeatures get_features;
  PFN_vkGetPhysicalDeviceFeatures2 get_features2;
  PFN_vkGetPhysicalDeviceProperties get_properties;
  PFN_vkGetPhysicalDeviceProperties2 get_properties2;
  PFN_vkCreateDevice create_device;
  struct Link* next;
} Link;

// A layer is a shared library the loader calls with bare handles: it has to keep a table. Entries
// live until the process ends (a test browser creates a handful of instances and devices).
static Link* g_links;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void* KeyOf(const void* handle) { return *(void* const*)handle; }

static void Remember(Link* link) {
  pthread_mutex_lock(&g_lock);
  link->next = g_links;
  g_links = link;
  pthread_mutex_unlock(&g_lock);
}

// Newest first. A physical device not seen in vkEnumeratePhysicalDevices (device groups) gets the
// newest instance's links: those are the loader's terminators, which dispatch per object.
static Link* Find(const void* handle, int physical_device) {
  void* key = KeyOf(handle);
  pthread_mutex_lock(&g_lock);
  Link* l = g_links;
  while (l && l->key != key) l = l->next;
  if (!l && physical_device) {
    l = g_links;
    while (l && l->next_gdpa) l = l->next;
  }
  pthread_mutex_unlock(&g_lock);
  return l;
}

static void ReportFeatures(VkPhysicalDeviceFeatures* f, VkBool32 on) {
  f->shaderSampledImageArrayDynamicIndexing = on;
  f->shaderStorageImageArrayDynamicIndexing = on;
}

static void ReportYcbcr(void* chain, VkBool32 on) {
  for (VkBaseOutStructure* s = (VkBaseOutStructure*)chain; s; s = s->pNext) {
    if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SAMPLER_YCBCR_CONVERSION_FEATURES) {
      ((VkPhysicalDeviceSamplerYcbcrConversionFeatures*)s)->samplerYcbcrConversion = on;
    } else if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES) {
      ((VkPhysicalDeviceVulkan11Features*)s)->samplerYcbcrConversion = on;
    }
  }
}

static void ReportIds(VkPhysicalDeviceProperties* p) {
  if (p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && strstr(p->deviceName, "llvmpipe")) {
    p->vendorID = 0x1AE0;
    p->deviceID = 0xC0DE;
  }
}

static Link* NewLink(void* key, VkInstance instance) {
  Link* link = calloc(1, sizeof *link);
  if (link) {
    link->key = key;
    link->instance = instance;
  }
  return link;
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo* info,
                                                     const VkAllocationCallbacks* alloc, VkInstance* out) {
  VkLayerInstanceCreateInfo* chain = (VkLayerInstanceCreateInfo*)info->pNext;
  while (chain && !(chain->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO && chain->function == VK_LAYER_LINK_INFO)) {
    chain = (VkLayerInstanceCreateInfo*)chain->pNext;
  }
  if (!chain) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = chain->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  chain->u.pLayerInfo = chain->u.pLayerInfo->pNext;
  VkResult r = ((PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance"))(info, alloc, out);
  if (r != VK_SUCCESS) return r;
  Link* link = NewLink(KeyOf(*out), *out);
  if (!link) return VK_ERROR_OUT_OF_HOST_MEMORY;
  link->next_gipa = gipa;
  link->enumerate_physical_devices = (PFN_vkEnumeratePhysicalDevices)gipa(*out, "vkEnumeratePhysicalDevices");
  link->get_features = (PFN_vkGetPhysicalDeviceFeatures)gipa(*out, "vkGetPhysicalDeviceFeatures");
  link->get_features2 = (PFN_vkGetPhysicalDeviceFeatures2)gipa(*out, "vkGetPhysicalDeviceFeatures2");
  if (!link->get_features2) link->get_features2 = (PFN_vkGetPhysicalDeviceFeatures2)gipa(*out, "vkGetPhysicalDeviceFeatures2KHR");
  link->get_properties = (PFN_vkGetPhysicalDeviceProperties)gipa(*out, "vkGetPhysicalDeviceProperties");
  link->get_properties2 = (PFN_vkGetPhysicalDeviceProperties2)gipa(*out, "vkGetPhysicalDeviceProperties2");
  if (!link->get_properties2) link->get_properties2 = (PFN_vkGetPhysicalDeviceProperties2)gipa(*out, "vkGetPhysicalDeviceProperties2KHR");
  link->create_device = (PFN_vkCreateDevice)gipa(*out, "vkCreateDevice");
  Remember(link);
  return r;
}

static VKAPI_ATTR VkResult VKAPI_CALL EnumeratePhysicalDevices(VkInstance instance, uint32_t* count,
                                                               VkPhysicalDevice* devices) {
  Link* l = Find(instance, 0);
  if (!l) return VK_ERROR_INITIALIZATION_FAILED;
  VkResult r = l->enumerate_physical_devices(instance, count, devices);
  if (devices && (r == VK_SUCCESS || r == VK_INCOMPLETE)) {
    for (uint32_t i = 0; i < *count; ++i) {
      Link* known = Find(devices[i], 0);
      if (known && known->instance == instance && !known->next_gdpa) continue;
      Link* link = malloc(sizeof *link);
      if (!link) return VK_ERROR_OUT_OF_HOST_MEMORY;
      *link = *l;  // the instance's next links serve its physical devices
      link->key = KeyOf(devices[i]);
      Remember(link);
    }
  }
  return r;
}

static VKAPI_ATTR void VKAPI_CALL GetFeatures(VkPhysicalDevice device, VkPhysicalDeviceFeatures* f) {
  Find(device, 1)->get_features(device, f);
  ReportFeatures(f, VK_TRUE);
}

static VKAPI_ATTR void VKAPI_CALL GetFeatures2(VkPhysicalDevice device, VkPhysicalDeviceFeatures2* f) {
  Find(device, 1)->get_features2(device, f);
  ReportFeatures(&f->features, VK_TRUE);
  ReportYcbcr(f->pNext, VK_TRUE);
}

static VKAPI_ATTR void VKAPI_CALL GetProperties(VkPhysicalDevice device, VkPhysicalDeviceProperties* p) {
  Find(device, 1)->get_properties(device, p);
  ReportIds(p);
}

static VKAPI_ATTR void VKAPI_CALL GetProperties2(VkPhysicalDevice device, VkPhysicalDeviceProperties2* p) {
  Find(device, 1)->get_properties2(device, p);
  ReportIds(&p->properties);
}

static VKAPI_ATTR VkResult VKAPI_CALL CreateDevice(VkPhysicalDevice physical, const VkDeviceCreateInfo* info,
                                                   const VkAllocationCallbacks* alloc, VkDevice* out) {
  Link* l = Find(physical, 1);
  VkLayerDeviceCreateInfo* chain = (VkLayerDeviceCreateInfo*)info->pNext;
  while (chain && !(chain->sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO && chain->function == VK_LAYER_LINK_INFO)) {
    chain = (VkLayerDeviceCreateInfo*)chain->pNext;
  }
  if (!l || !chain) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetDeviceProcAddr gdpa = chain->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  chain->u.pLayerInfo = chain->u.pLayerInfo->pNext;
  // The reported-only features never reach the driver. The caller's feature structs are its own
  // (const for pEnabledFeatures, so that one is copied); the chain is edited in place.
  VkDeviceCreateInfo request = *info;
  VkPhysicalDeviceFeatures features;
  if (info->pEnabledFeatures) {
    features = *info->pEnabledFeatures;
    ReportFeatures(&features, VK_FALSE);
    request.pEnabledFeatures = &features;
  }
  for (VkBaseOutStructure* s = (VkBaseOutStructure*)info->pNext; s; s = s->pNext) {
    if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2) ReportFeatures(&((VkPhysicalDeviceFeatures2*)s)->features, VK_FALSE);
  }
  ReportYcbcr((void*)info->pNext, VK_FALSE);
  VkResult r = l->create_device(physical, &request, alloc, out);
  if (r != VK_SUCCESS) return r;
  Link* link = NewLink(KeyOf(*out), l->instance);
  if (!link) return VK_ERROR_OUT_OF_HOST_MEMORY;
  link->next_gdpa = gdpa;
  Remember(link);
  return r;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char* name) {
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)GetDeviceProcAddr;
  Link* l = Find(device, 0);
  return l ? l->next_gdpa(device, name) : NULL;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* name) {
  static const struct { const char* name; PFN_vkVoidFunction fn; } kOwn[] = {
    {"vkGetInstanceProcAddr", (PFN_vkVoidFunction)GetInstanceProcAddr},
    {"vkGetDeviceProcAddr", (PFN_vkVoidFunction)GetDeviceProcAddr},
    {"vkCreateInstance", (PFN_vkVoidFunction)CreateInstance},
    {"vkEnumeratePhysicalDevices", (PFN_vkVoidFunction)EnumeratePhysicalDevices},
    {"vkGetPhysicalDeviceFeatures", (PFN_vkVoidFunction)GetFeatures},
    {"vkGetPhysicalDeviceFeatures2", (PFN_vkVoidFunction)GetFeatures2},
    {"vkGetPhysicalDeviceFeatures2KHR", (PFN_vkVoidFunction)GetFeatures2},
    {"vkGetPhysicalDeviceProperties", (PFN_vkVoidFunction)GetProperties},
    {"vkGetPhysicalDeviceProperties2", (PFN_vkVoidFunction)GetProperties2},
    {"vkGetPhysicalDeviceProperties2KHR", (PFN_vkVoidFunction)GetProperties2},
    {"vkCreateDevice", (PFN_vkVoidFunction)CreateDevice},
  };
  for (size_t i = 0; i < sizeof kOwn / sizeof kOwn[0]; ++i) {
    if (!strcmp(name, kOwn[i].name)) return kOwn[i].fn;
  }
  if (!instance) return NULL;
  Link* l = Find(instance, 0);
  return l ? l->next_gipa(instance, name) : NULL;
}

__attribute__((visibility("default"))) VKAPI_ATTR VkResult VKAPI_CALL
vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface* version) {
  if (version->loaderLayerInterfaceVersion > 2) version->loaderLayerInterfaceVersion = 2;
  version->pfnGetInstanceProcAddr = GetInstanceProcAddr;
  version->pfnGetDeviceProcAddr = GetDeviceProcAddr;
  version->pfnGetPhysicalDeviceProcAddr = NULL;
  return VK_SUCCESS;
}
