import Foundation

extension TensorSource {
    /// Conv1D as Hugging Face stores it: the weight [in, out], read as is (`storedOutIn` false).
    func conv1D(_ prefix: String, in: Int, out: Int, role: TensorRole) throws -> Linear {
        Linear(weight: try matrix(prefix + ".weight", [`in`, out], role),
               bias: try vector(prefix + ".bias", [out], .bias), storedOutIn: false)
    }
}
