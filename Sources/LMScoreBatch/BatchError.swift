/// Why a batch run stops: a one-line message naming the file, line or option at fault.
public struct BatchError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
