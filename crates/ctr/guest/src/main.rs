fn main() {
    let _ = libcontainer::container::builder::ContainerBuilder::new("x".into(), libcontainer::syscall::syscall::SyscallType::default());
}
