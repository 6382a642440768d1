// Internal to memsim_config: the `--set key.path=value` machinery the loader (config.cpp) uses,
// implemented with the emitter in config_yaml.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace memsim::platform::detail {

// A node a --set put or created, by its dotted path as the loader names it ("devices[0].irq").
struct set_origin {
    std::string path;
    std::string text;  // the whole "key.path=value"
};

// "ram" + "size" is "ram.size"; "" + "ram" is "ram".
std::string join(const std::string& path, std::string_view key);

// Whether a node at `path` is the node at `set_path` or inside it.
bool covers(std::string_view set_path, std::string_view path);

// Applies each "key.path=value" to the document in order, creating mappings on the way.
// A numeric segment indexes a list; any other segment on a list selects the entry of that name.
std::vector<set_origin> apply_sets(YAML::Node& root, const std::vector<std::string>& sets);

}  // namespace memsim::platform::detail
