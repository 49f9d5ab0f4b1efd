/// Everything that can be wrong with a model directory. Each case names the file and, where there
/// is one, the tensor, so an operator can tell which download is broken.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case unreadableFile(path: String, reason: String)
    case badConfig(path: String, reason: String)
    case unsupportedModel(path: String, reason: String)
    case badHeader(path: String, reason: String)
    case truncated(path: String, tensor: String, reason: String)
    case missingTensor(name: String, searched: [String])
    case wrongShape(path: String, tensor: String, expected: [Int], found: [Int])
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): no such file"
        case .unreadableFile(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .badConfig(let path, let reason):
            return "\(path): invalid config: \(reason)"
        case .unsupportedModel(let path, let reason):
            return "\(path): unsupported model: \(reason)"
        case .badHeader(let path, let reason):
            return "\(path): invalid safetensors header: \(reason)"
        case .truncated(let path, let tensor, let reason):
            return "\(path): tensor \(tensor): \(reason)"
        case .missingTensor(let name, let searched):
            return "tensor \(name) not found in \(searched.joined(separator: ", "))"
        case .wrongShape(let path, let tensor, let expected, let found):
            return "\(path): tensor \(tensor) has shape \(found), expected \(expected)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor \(tensor) has dtype \(dtype); supported: F32, F16, BF16"
        case .cannotWrite(let path, let reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
